"""A corpus of hostile manifest sets, each through the real CLI's `validate` and `plan`.

Every case must end in exit 1 with one clear message naming the file, no traceback, no
"internal error", and no hang (each run has a subprocess timeout). The files are what a
pull request can put in a config repository: FIFOs, device links, secrets pointing at
/proc, sparse giants, numbers JSON cannot carry, nesting, encodings.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.cli import run_cli

VALID = """\
apiVersion: tensormesh.gitops/v1
kind: ModelDeployment
metadata:
  name: {name}
spec:
  modelPath: meta-llama/Llama-3.1-8B-Instruct
  gpuType: GPU_TYPE_H100
  gpuCount: 1
  infra: {{cloudProvider: CLOUD_PROVIDER_NEBIUS}}
"""
CANARY = "CANARY_SECRET_VALUE_7f3a"  # in the environment of every run: must never be printed
TIMEOUT = 30.0  # seconds; a hang fails the test instead of the suite


def manifest(**extra: str) -> str:
    """The valid manifest with more `spec` lines (raw YAML text after each key)."""
    return VALID.format(name="hostile") + "".join(
        f"  {key}: {text}\n" for key, text in extra.items()
    )


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def sparse(path: Path, size: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        handle.truncate(size)  # no disk blocks: a "huge" file costs nothing to make
    return path


def symlink(path: Path, target: str | Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)
    return path


def fifo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    return path


def unix_socket(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    sock.close()  # the socket file stays
    return path


def with_secret_file(folder: Path, target: str) -> Path:
    return write(folder / "m.yaml", manifest(hfToken=f"{{fromFile: {target!r}}}"))


@dataclass(frozen=True)
class Case:
    """Builds files under a folder; returns the file the message must name."""

    build: Callable[[Path], Path]
    fragment: str  # a piece of the expected message


def _nested_flow(depth: int) -> str:
    return manifest(modelSpec="{a: " * depth + "1" + "}" * depth)


def _nested_block(depth: int) -> str:
    lines = "".join("  " * (level + 2) + f"k{level}:\n" for level in range(depth))
    return VALID.format(name="hostile") + "  modelSpec:\n" + lines


def _alias_bomb() -> str:
    lines = ["x: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for prev, cur in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{cur}{cur}: &{cur} [{', '.join(['*' + prev] * 9)}]")
    return VALID.format(name="hostile") + "  modelSpec:\n" + "".join(f"    {x}\n" for x in lines)


CORPUS: dict[str, Case] = {
    # -- manifest files that are not plain files, or lead out of the tree ----------------
    "manifest-fifo": Case(lambda d: fifo(d / "m.yaml"), "FIFO"),
    "manifest-socket": Case(lambda d: unix_socket(d / "s.yaml"), "socket"),
    "manifest-dev-zero-link": Case(lambda d: symlink(d / "m.yaml", "/dev/zero"), "/dev/zero"),
    "manifest-dev-random-link": Case(lambda d: symlink(d / "m.yml", "/dev/urandom"), "outside"),
    "manifest-proc-environ-link": Case(
        lambda d: symlink(d / "m.yaml", "/proc/self/environ"), "outside"
    ),
    "manifest-link-escaping-tree": Case(
        lambda d: symlink(d / "m.yaml", write(d.parent / "elsewhere.yaml", VALID.format(name="o"))),
        "outside the config repository",
    ),
    "folder-link-escaping-tree": Case(
        lambda d: symlink(d / "linked", write(d.parent / "out" / "x.yaml", "a: 1\n").parent),
        "outside the config repository",
    ),
    "manifest-dangling-link": Case(lambda d: symlink(d / "m.yaml", d / "gone.yaml"), "cannot read"),
    "manifest-huge-sparse": Case(lambda d: sparse(d / "m.yaml", 9 * 1024 * 1024), "over the limit"),
    # -- secret files ------------------------------------------------------------------
    "secret-proc-environ": Case(lambda d: with_secret_file(d, "/proc/self/environ"), "outside"),
    "secret-dev-zero": Case(lambda d: with_secret_file(d, "/dev/zero"), "outside"),
    "secret-etc-hostname": Case(lambda d: with_secret_file(d, "/etc/hostname"), "outside"),
    "secret-dotdot-escape": Case(lambda d: with_secret_file(d, "../../../etc/passwd"), "outside"),
    "secret-fifo": Case(
        lambda d: (fifo(d / "tok"), with_secret_file(d, "tok"))[1], "FIFO (named pipe)"
    ),
    "secret-link-to-dev-zero": Case(
        lambda d: (symlink(d / "tok", "/dev/zero"), with_secret_file(d, "tok"))[1], "/dev/zero"
    ),
    "secret-link-escaping-tree": Case(
        lambda d: (
            symlink(d / "tok", write(d.parent / "outside-token", "t0k\n")),
            with_secret_file(d, "tok"),
        )[1],
        "outside the config repository",
    ),
    "secret-huge-sparse": Case(
        lambda d: (sparse(d / "tok", 65 * 1024), with_secret_file(d, "tok"))[1], "over the limit"
    ),
    "secret-is-a-folder": Case(
        lambda d: ((d / "sub").mkdir(parents=True), with_secret_file(d, "sub"))[1], "a folder"
    ),
    "secret-socket": Case(
        lambda d: (unix_socket(d / "tok"), with_secret_file(d, "tok"))[1], "a socket"
    ),
    # -- numbers JSON or int64 cannot carry ---------------------------------------------
    "nan-in-model-spec": Case(
        lambda d: write(d / "m.yaml", manifest(modelSpec="{x: .nan}")), "finite"
    ),
    "inf-deep-in-model-spec": Case(
        lambda d: write(d / "m.yaml", manifest(modelSpec="{a: {b: [1, 2, -.Inf]}}")), "finite"
    ),
    "float-overflow-to-inf": Case(
        lambda d: write(d / "m.yaml", manifest(modelSpec="{x: 1e999}")), "finite"
    ),
    "nan-tagged": Case(
        lambda d: write(d / "m.yaml", manifest(modelSpec="{x: !!float .NaN}")), "finite"
    ),
    "gpu-count-inf": Case(
        lambda d: write(
            d / "m.yaml", VALID.format(name="h").replace("gpuCount: 1", "gpuCount: .inf")
        ),
        "finite",
    ),
    "gpu-count-beyond-int64": Case(
        lambda d: write(
            d / "m.yaml",
            VALID.format(name="h").replace("gpuCount: 1", "gpuCount: 9223372036854775808"),
        ),
        "int64",
    ),
    "gpu-count-beyond-bound": Case(
        lambda d: write(
            d / "m.yaml", VALID.format(name="h").replace("gpuCount: 1", "gpuCount: 65")
        ),
        "at most 64",
    ),
    "gpu-count-int64-max": Case(
        lambda d: write(
            d / "m.yaml",
            VALID.format(name="h").replace("gpuCount: 1", "gpuCount: 9223372036854775807"),
        ),
        "at most 64",
    ),
    "negative-beyond-int64": Case(
        lambda d: write(d / "m.yaml", manifest(modelSpec="{x: -9223372036854775809}")), "int64"
    ),
    "hex-beyond-int64": Case(
        lambda d: write(d / "m.yaml", manifest(modelSpec="{x: 0x" + "f" * 40 + "}")), "int64"
    ),
    "five-thousand-digits": Case(
        lambda d: write(d / "m.yaml", manifest(modelSpec="{x: " + "9" * 5000 + "}")), "int64"
    ),
    "nan-in-labels": Case(
        lambda d: write(
            d / "m.yaml",
            VALID.format(name="h").replace("  name: h\n", "  name: h\n  labels: {a: .nan}\n"),
        ),
        "finite",
    ),
    "nan-in-reconcile-block": Case(
        lambda d: write(d / "m.yaml", VALID.format(name="h") + "reconcile: {selfHeal: .nan}\n"),
        "finite",
    ),
    "nan-at-top-of-second-document": Case(
        lambda d: write(d / "m.yaml", VALID.format(name="a") + "---\n.nan\n"), "finite"
    ),
    "nan-in-secret-field": Case(lambda d: write(d / "m.yaml", manifest(apiKey=".nan")), "finite"),
    # -- structure and encoding ---------------------------------------------------------
    "deep-flow-nesting": Case(lambda d: write(d / "m.yaml", _nested_flow(900)), "nest"),
    "deep-block-nesting": Case(lambda d: write(d / "m.yaml", _nested_block(1200)), "nesting"),
    "recursive-alias": Case(lambda d: write(d / "m.yaml", manifest(modelSpec="&a [*a]")), "alias"),
    "alias-bomb": Case(lambda d: write(d / "m.yaml", _alias_bomb()), "alias bomb"),
    "tab-indentation": Case(
        lambda d: write(d / "m.yaml", VALID.format(name="h").replace("  gpuCount", "\tgpuCount")),
        "invalid YAML",
    ),
    "binary-nul": Case(lambda d: write(d / "m.yaml", b"apiVersion: \x00\x01\x02\n"), "binary"),
    "utf16-with-bom": Case(
        lambda d: write(d / "m.yaml", VALID.format(name="h").encode("utf-16")), "binary"
    ),
    "utf8-bom-then-nan": Case(
        lambda d: write(d / "m.yaml", b"\xef\xbb\xbf" + manifest(modelSpec="{x: .nan}").encode()),
        "finite",
    ),
    "invalid-utf8": Case(lambda d: write(d / "m.yaml", b"a: \xff\xfe\n"), "UTF-8"),
    "control-character": Case(lambda d: write(d / "m.yaml", "a: b\x07c\n"), "invalid YAML"),
    "python-object-tag": Case(
        lambda d: write(d / "m.yaml", manifest(modelSpec="!!python/object/apply:os.system [id]")),
        "unsupported tag",
    ),
    "complex-mapping-key": Case(
        lambda d: write(d / "m.yaml", manifest(modelSpec="{? [a, b] : 1}")), "plain scalars"
    ),
    "document-is-a-list": Case(lambda d: write(d / "m.yaml", "- 1\n- 2\n"), "must be a mapping"),
    "document-is-a-scalar": Case(lambda d: write(d / "m.yaml", "just text\n"), "must be a mapping"),
    "duplicate-keys": Case(
        lambda d: write(d / "m.yaml", manifest(modelSpec="{a: 1, a: 2}")), "duplicate key"
    ),
    "undefined-alias": Case(lambda d: write(d / "m.yaml", manifest(modelSpec="*nowhere")), "alias"),
    "unclosed-flow": Case(
        lambda d: write(d / "m.yaml", manifest(modelSpec="{a: [1, 2")), "invalid YAML"
    ),
}


def _run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        "HOSTILE_CANARY": CANARY,
        "TENSORMESH_CONTROL_PLANE_BASE_URL": "http://127.0.0.1:9",  # never reached
        "TENSORMESH_CONTROL_PLANE_TOKEN": CANARY,
    }
    return run_cli(args, env=env, cwd=tmp_path, timeout=TIMEOUT)


def _assert_one_clear_failure(
    result: subprocess.CompletedProcess[str], culprit: Path, fragment: str
) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 1, (result.returncode, output)
    assert "Traceback" not in output and "internal error" not in output, output
    assert CANARY not in output
    lines = [line for line in result.stderr.splitlines() if line.startswith(str(culprit))]
    if not lines:  # plan prefixes its message with "error: "
        lines = [line for line in result.stderr.splitlines() if str(culprit) in line]
    assert len(lines) == 1, result.stderr
    assert fragment in lines[0], lines[0]


@pytest.mark.parametrize("case_id", sorted(CORPUS))
def test_hostile_manifest_is_one_clear_error_in_validate_and_plan(
    tmp_path: Path, case_id: str
) -> None:
    case = CORPUS[case_id]
    folder = tmp_path / "repo" / "deploy"
    folder.mkdir(parents=True)
    culprit = case.build(folder).relative_to(tmp_path)
    given = str(folder.relative_to(tmp_path))

    validated = _run(["validate", given], tmp_path)
    _assert_one_clear_failure(validated, culprit, case.fragment)
    assert "1 problem in 1 of" in validated.stderr

    planned = _run(["plan", given, "--state", "state.json"], tmp_path)
    _assert_one_clear_failure(planned, culprit, case.fragment)
    assert not (tmp_path / "state.json").exists()


def test_corpus_is_not_trivially_small() -> None:
    assert len(CORPUS) >= 40


@pytest.mark.e2e
@pytest.mark.parametrize(
    "case_id",
    ["manifest-fifo", "secret-proc-environ", "nan-in-model-spec", "gpu-count-beyond-int64"],
)
def test_apply_refuses_the_same_before_any_call(sandbox, tmp_path: Path, case_id: str) -> None:
    folder = tmp_path / "repo" / "deploy"
    folder.mkdir(parents=True)
    case = CORPUS[case_id]
    culprit = case.build(folder).relative_to(tmp_path)
    (folder / "fine.yaml").write_text(VALID.format(name="fine"))  # no partial apply either
    result = run_cli(
        ["apply", str(folder.relative_to(tmp_path)), "--state", "state.json", "--no-wait"],
        env={**sandbox.env, "HOSTILE_CANARY": CANARY},
        cwd=tmp_path,
        timeout=TIMEOUT,
    )
    _assert_one_clear_failure(result, culprit, case.fragment)
    assert sandbox.token not in result.stdout + result.stderr
    assert sandbox.stats()["createCalls"] == 0
