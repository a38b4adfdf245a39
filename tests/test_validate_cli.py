"""`validate` end to end through reconciler.cli.main: exit codes, file:line:col, no tracebacks."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from reconciler.cli import main

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples" / "manifests"

VALID = """\
apiVersion: tensormesh.gitops/v1
kind: ModelDeployment
metadata:
  name: {name}
spec:
  modelPath: meta-llama/Llama-3.1-8B-Instruct
  gpuType: GPU_TYPE_H100
  gpuCount: 1
  infra:
    cloudProvider: CLOUD_PROVIDER_NEBIUS
"""


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["validate", *args])
    out, err = capsys.readouterr()
    return code, out, err


def write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def alias_bomb() -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, cur in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{cur}: &{cur} [{', '.join(['*' + prev] * 9)}]")
    return "\n".join(lines) + "\n"


# (case id, file content, expected "line:col" prefix after the file name, message fragment)
BAD_INPUTS = [
    ("broken-yaml", VALID.format(name="x") + "  bad: [1, 2\n", "12:1", "invalid YAML"),
    (
        "missing-required",
        VALID.format(name="x").replace("  modelPath: meta-llama/Llama-3.1-8B-Instruct\n", ""),
        "6:3",
        "missing required field 'modelPath'",
    ),
    (
        "wrong-type",
        VALID.format(name="x").replace("gpuCount: 1", "gpuCount: two"),
        "8:13",
        "expected integer, got string",
    ),
    (
        "unknown-field",
        VALID.format(name="x").replace("gpuCount: 1", "gpuCount: 1\n  gpuCnt: 2"),
        "9:3",
        "unknown field 'gpuCnt'; did you mean 'gpuCount'?",
    ),
    (
        "unknown-api-version",
        VALID.format(name="x").replace("gitops/v1", "gitops/v9"),
        "1:13",
        "unknown apiVersion 'tensormesh.gitops/v9'; supported: tensormesh.gitops/v1",
    ),
    (
        "wrong-kind",
        VALID.format(name="x").replace("kind: ModelDeployment", "kind: Deployment"),
        "2:7",
        "expected 'ModelDeployment', got 'Deployment'",
    ),
    (
        "duplicate-key",
        VALID.format(name="x").replace("gpuCount: 1", "gpuCount: 1\n  gpuCount: 2"),
        "9:3",
        "duplicate key 'gpuCount' (first defined on line 8)",
    ),
    ("list-document", "- a\n- b\n", "1:1", "must be a mapping"),
    ("scalar-document", "just text\n", "1:1", "must be a mapping"),
    ("invalid-name", VALID.format(name="Llama_8B"), "4:9", "'Llama_8B' is not a valid name"),
    ("name-too-long", VALID.format(name="a" * 64), "4:9", "is not a valid name"),
    (
        "gpu-count-zero",
        VALID.format(name="x").replace("gpuCount: 1", "gpuCount: 0"),
        "8:13",
        "must be at least 1, got 0",
    ),
    (
        "gpu-count-bool",
        VALID.format(name="x").replace("gpuCount: 1", "gpuCount: true"),
        "8:13",
        "expected integer, got boolean",
    ),
    (
        "unknown-gpu-type",
        VALID.format(name="x").replace("GPU_TYPE_H100", "GPU_TYPE_X"),
        "7:12",
        "'GPU_TYPE_X' is not one of GPU_TYPE_A100, GPU_TYPE_H100, GPU_TYPE_H200, GPU_TYPE_B200",
    ),
    (
        "region-provider-mismatch",
        VALID.format(name="x") + "    lambdaRegion: LAMBDA_REGION_US_EAST_1\n",
        "11:5",
        "lambdaRegion is only allowed with cloudProvider CLOUD_PROVIDER_LAMBDA",
    ),
    (
        "bad-provider",
        VALID.format(name="x").replace("CLOUD_PROVIDER_NEBIUS", "nebius"),
        "10:20",
        "is not a valid cloudProvider",
    ),
    (
        "bad-user-id",
        VALID.format(name="x") + "  userId: alice\n",
        "11:11",
        "is not a valid userId",
    ),
    (
        "python-tag",
        VALID.format(name="x") + "  nodeId: !!python/object:os.system ls\n",
        "11:11",
        "unsupported tag",
    ),
    (
        "yes-is-not-a-boolean",
        VALID.format(name="x") + "  kvCacheEnabled: yes\n",
        "11:19",
        "expected boolean, got string",
    ),
    ("binary-file", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "3:1", "not a YAML text file"),
    (
        "invalid-utf8",
        b"apiVersion: tensormesh.gitops/v1\nkind: \xc3\x28\n",
        "2:7",
        "not valid UTF-8",
    ),
    ("alias-bomb", alias_bomb(), "", "alias bomb"),
    (
        "bad-reconcile-block",
        VALID.format(name="x") + "reconcile:\n  replaceStrategy: createFirst\n",
        "12:20",
        "is not one of deleteFirst",
    ),
]


@pytest.mark.parametrize(
    ("content", "position", "fragment"),
    [case[1:] for case in BAD_INPUTS],
    ids=[case[0] for case in BAD_INPUTS],
)
def test_bad_input_is_reported_at_its_place(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    content: str | bytes,
    position: str,
    fragment: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "manifests/bad.yaml", content)

    code, out, err = run(capsys, "manifests")

    assert code == 1
    assert out == ""
    assert "Traceback" not in err
    first = err.splitlines()[0]
    assert first.startswith(f"manifests/bad.yaml:{position}"), first
    assert fragment in first
    assert err.splitlines()[-1].endswith("in 1 of 1 file")


def test_alias_bomb_is_refused_quickly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, "bomb.yaml", alias_bomb())
    started = time.perf_counter()
    code, _, err = run(capsys, str(tmp_path))
    # Generous bound: the point is "not minutes / gigabytes", not a timing benchmark.
    assert time.perf_counter() - started < 5
    assert code == 1
    assert "expands to more than 100000 nodes" in err


@pytest.mark.parametrize("literal", ["hf_abcdefSECRETvalue123", "sk-live-0123456789"])
@pytest.mark.parametrize("field", ["hfToken", "apiKey"])
@pytest.mark.parametrize("output", ["text", "json"])
def test_literal_secret_is_refused_without_echoing_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], literal: str, field: str, output: str
) -> None:
    path = write(tmp_path, "secret.yaml", VALID.format(name="x") + f"  {field}: {literal}\n")

    code, out, err = run(capsys, str(path), "--output", output)

    assert code == 1
    assert literal not in out + err
    assert "must not hold a literal value" in out + err


@pytest.mark.parametrize(
    "value",
    [
        "{fromEnv: HF, fromFile: token.txt}",
        "{fromEnv: 'hf secret with spaces'}",
        "{value: hf_SECRETLITERAL}",
        "[hf_SECRETLITERAL]",
        "{fromEnv: [hf_SECRETLITERAL]}",
    ],
)
def test_malformed_secret_reference_never_shows_its_content(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    path = write(tmp_path, "secret.yaml", VALID.format(name="x") + f"  hfToken: {value}\n")
    code, out, err = run(capsys, str(path), "--output", "json")
    assert code == 1
    assert "SECRET" not in out + err and "secret with spaces" not in out + err
    assert json.loads(out)["problems"][0]["path"].startswith("$.spec.hfToken")


def test_duplicate_name_across_files_names_both_places(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "m/a.yaml", VALID.format(name="llama"))
    write(tmp_path, "m/sub/b.yaml", "# comment\n" + VALID.format(name="llama"))

    code, _, err = run(capsys, "m")

    assert code == 1
    assert err.splitlines() == [
        "m/sub/b.yaml:5:9: duplicate name 'llama' (also defined at m/a.yaml:4:9) "
        "(at $.metadata.name)",
        "1 problem in 1 of 2 files",
    ]


def test_examples_validate(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, str(EXAMPLES))
    assert (code, err) == (0, "")
    assert out == "4 deployments in 4 files are valid\n"


def test_every_problem_is_reported_in_deterministic_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    bad = VALID.format(name="x").replace("gpuCount: 1", "gpuCount: 0\n  gpuCnt: 1")
    write(tmp_path, "m/b.yaml", bad.replace("GPU_TYPE_H100", "GPU_TYPE_Z"))
    write(tmp_path, "m/a.yml", "- not a mapping\n")
    write(tmp_path, "m/ok.yaml", VALID.format(name="fine"))
    write(tmp_path, "m/notes.txt", "ignored: [")  # not a manifest extension

    first = run(capsys, "m")
    second = run(capsys, "m")

    assert first == second
    code, _, err = first
    assert code == 1
    lines = err.splitlines()
    assert [line.split(": ")[0] for line in lines[:-1]] == [
        "m/a.yml:1:1",
        "m/b.yaml:7:12",
        "m/b.yaml:8:13",
        "m/b.yaml:9:3",
    ]
    assert lines[-1] == "4 problems in 2 of 3 files"


def test_multi_document_files_and_empty_documents(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    content = "---\n" + VALID.format(name="one") + "---\n---\n# only a comment\n---\n"
    content += VALID.format(name="two")
    path = write(tmp_path, "many.yaml", content)
    code, out, _ = run(capsys, str(path))
    assert code == 0
    assert out == "2 deployments in 1 file are valid\n"


def test_problem_in_second_document_points_at_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    content = VALID.format(name="one") + "---\n" + VALID.format(name="two").replace("H100", "Q")
    path = write(tmp_path, "many.yaml", content)
    code, _, err = run(capsys, str(path))
    assert code == 1
    assert err.startswith(f"{path}:18:12: 'GPU_TYPE_Q' is not one of")


def test_file_named_directly_is_read_whatever_its_extension(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "deploy.manifest", VALID.format(name="x"))
    code, out, _ = run(capsys, str(path))
    assert (code, out) == (0, "1 deployment in 1 file is valid\n")


def test_missing_path_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, str(tmp_path / "nowhere"))
    assert code == 1
    assert "nowhere" in err and "not found" in err and "Traceback" not in err


def test_json_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, "bad.yaml", VALID.format(name="x").replace("gpuCount: 1", "gpuCount: 0"))
    code, out, err = run(capsys, str(tmp_path), "--output", "json")
    assert code == 1
    assert err == ""
    report = json.loads(out)
    assert report["valid"] is False
    assert report["problems"] == [
        {
            "file": str(tmp_path / "bad.yaml"),
            "line": 8,
            "column": 13,
            "message": "must be at least 1, got 0",
            "path": "$.spec.gpuCount",
        }
    ]


def test_json_output_valid(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, str(EXAMPLES), "--output", "json")
    assert code == 0
    assert json.loads(out)["valid"] is True
