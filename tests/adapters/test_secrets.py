"""adapters.secrets: fromFile read only inside the config repository, checked by validate,
refused again at plan/apply time (a file swapped after validate), values never in messages.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler.adapters import manifest_files, secrets
from reconciler.core.errors import SecretError
from reconciler.core.model import DesiredModel, SecretRef, SecretSource
from tests.support import builders

MANIFEST = """\
apiVersion: tensormesh.gitops/v1
kind: ModelDeployment
metadata:
  name: m
spec:
  modelPath: org/model
  gpuType: GPU_TYPE_A100
  gpuCount: 1
  infra: {{cloudProvider: CLOUD_PROVIDER_YOTTA}}
  hfToken: {{fromFile: {target}}}
"""
VALUE = "hf_secret_value_never_printed"


def manifest_in(folder: Path, target: str) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "m.yaml").write_text(MANIFEST.format(target=target))
    return str(folder)


def model_reading(base_dir: Path, target: str) -> DesiredModel:
    ref = SecretRef("hfToken", SecretSource.FROM_FILE, target, base_dir=str(base_dir))
    return builders.desired("m", secrets=(ref,))


def test_inside_a_git_repository_a_sibling_folder_is_allowed(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "secrets").mkdir()
    (repo / "secrets" / "hf").write_text(VALUE + "\n")
    (repo / "secrets" / "abs").write_text(VALUE)
    folder = manifest_in(repo / "deploy", "../secrets/hf")
    (models, issues, _) = manifest_files.check_manifests([folder])
    assert issues == ()
    assert secrets.resolve_secrets(models, env={}) == {"m": {"hfToken": VALUE}}
    absolute = manifest_in(repo / "other", str(repo / "secrets" / "abs"))
    assert manifest_files.check_manifests([absolute])[1] == ()


def test_outside_a_git_repository_the_manifest_folder_is_the_bound(tmp_path: Path) -> None:
    (tmp_path / "hf").write_text(VALUE)
    folder = manifest_in(tmp_path / "deploy", "../hf")
    _, issues, _ = manifest_files.check_manifests([folder])
    assert len(issues) == 1
    issue = issues[0]
    assert str(issue.location) == f"{folder}/m.yaml:10:23"
    assert issue.json_path == "$.spec.hfToken.fromFile"
    assert "outside the config repository" in issue.message
    assert VALUE not in issue.message


def test_a_missing_file_is_left_to_plan_and_apply(tmp_path: Path) -> None:
    # CI often writes secret files just before apply: validate must not need them.
    folder = manifest_in(tmp_path / "deploy", "not-yet-written")
    (models, issues, _) = manifest_files.check_manifests([folder])
    assert issues == ()
    with pytest.raises(SecretError, match="not-yet-written, which is missing"):
        secrets.resolve_secrets(models, env={})


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "proc-environ", "too-big", "escape"])
def test_a_file_swapped_after_validate_is_refused_at_apply_time(tmp_path: Path, kind: str) -> None:
    token = tmp_path / "tok"
    if kind == "fifo":
        os.mkfifo(token)  # no writer: reading it naively hangs apply
    elif kind == "dev-zero":
        token.symlink_to("/dev/zero")
    elif kind == "proc-environ":
        token.symlink_to("/proc/self/environ")
    elif kind == "too-big":
        token.write_bytes(b"x" * (secrets.MAX_SECRET_BYTES + 1))
    else:
        (tmp_path.parent / f"{tmp_path.name}-out").write_text(VALUE)
        token.symlink_to(tmp_path.parent / f"{tmp_path.name}-out")
    model = model_reading(tmp_path, "tok")
    with pytest.raises(SecretError, match=r"needs file .*tok, which is refused: it ") as caught:
        secrets.resolve_secrets([model], env={"CANARY": VALUE})
    assert VALUE not in str(caught.value)
    assert secrets.fingerprint_available([model], "salt", env={}) == {"m": {"hfToken": None}}


def test_a_secret_of_exactly_the_limit_is_read(tmp_path: Path) -> None:
    (tmp_path / "tok").write_bytes(b"k" * secrets.MAX_SECRET_BYTES)
    values = secrets.resolve_secrets([model_reading(tmp_path, "tok")], env={})
    assert len(values["m"]["hfToken"]) == secrets.MAX_SECRET_BYTES


def test_validate_looks_without_reading(tmp_path: Path) -> None:
    # An unreadable regular file is not validate's business; apply says it cannot read it.
    folder = tmp_path / "deploy"
    manifest_in(folder, "tok")
    (folder / "tok").write_bytes(b"\xff\xfe not utf-8")
    (models, issues, _) = manifest_files.check_manifests([str(folder)])
    assert issues == ()
    with pytest.raises(SecretError, match="missing, unreadable or empty"):
        secrets.resolve_secrets(models, env={})


CANARY = "hf_CANARY_pasted_token_123"


@pytest.mark.parametrize(
    "text",
    [
        CANARY,
        f"[{CANARY}]",
        f"{{{CANARY}: x}}",
        f"{{fromEnv: {CANARY}-x}}",
        f"{{fromEnv: {{x: {CANARY}}}}}",
        f"{{fromFile: {CANARY}, fromEnv: HF}}",
        f"{{fromFile: /{CANARY}}}",
        f"{{fromFile: ../../{CANARY}}}",
        f"{{fromFile: /tmp/{CANARY}/x}}",
    ],
)
def test_no_validation_message_repeats_a_pasted_secret(tmp_path: Path, text: str) -> None:
    (tmp_path / "m.yaml").write_text(MANIFEST.replace("{{fromFile: {target}}}", text))
    _, issues, _ = manifest_files.check_manifests([str(tmp_path)])
    assert issues, text
    for issue in issues:
        assert CANARY not in str(issue), str(issue)
