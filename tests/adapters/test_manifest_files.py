"""adapters.manifest_files: discovery, whole-set checking and the public loading API."""

from __future__ import annotations

import os
from pathlib import Path

import jsonschema
import pytest

from reconciler.adapters import manifest_files, schema_files
from reconciler.core.errors import ManifestError, UsageError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "manifests"

VALID = """\
apiVersion: tensormesh.gitops/v1
kind: ModelDeployment
metadata:
  name: {name}
spec:
  modelPath: org/model
  gpuType: GPU_TYPE_A100
  gpuCount: 1
  infra: {{cloudProvider: CLOUD_PROVIDER_YOTTA}}
  hfToken: {{fromFile: hf.txt}}
"""


def write(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_discovery_is_recursive_sorted_and_filtered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ["m/z.yaml", "m/a.yml", "m/sub/b.yaml", "m/sub/deeper/c.YAML.txt", "m/README.md"]:
        write(tmp_path / name, "")
    write(tmp_path / "direct.conf", "")
    found = manifest_files.find_manifest_files(["m", "direct.conf", "m/z.yaml"])
    assert found == ("direct.conf", "m/a.yml", "m/sub/b.yaml", "m/z.yaml")


def test_missing_paths_are_named(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"not found: '.*gone', '.*lost'"):
        manifest_files.find_manifest_files([str(tmp_path / "gone"), str(tmp_path / "lost")])


def test_a_folder_without_manifests_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "notes.txt", "")
    with pytest.raises(UsageError, match=r"no \*\.yaml or \*\.yml files found"):
        manifest_files.find_manifest_files([str(tmp_path)])


def test_load_desired_returns_models_sorted_by_name(tmp_path: Path) -> None:
    write(tmp_path / "one.yaml", VALID.format(name="zeta") + "---\n" + VALID.format(name="alpha"))
    write(tmp_path / "nested/two.yaml", VALID.format(name="mid"))
    models = manifest_files.load_desired([str(tmp_path)])
    assert [model.name for model in models] == ["alpha", "mid", "zeta"]
    assert models[1].secrets[0].base_dir == str(tmp_path / "nested")
    assert models[1].location.file == str(tmp_path / "nested/two.yaml")


def test_load_desired_raises_with_every_issue_of_every_file(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", VALID.format(name="x").replace("gpuCount: 1", "gpuCount: 0"))
    write(tmp_path / "b.yaml", "a: [\n")
    write(tmp_path / "c.yaml", VALID.format(name="x"))
    with pytest.raises(ManifestError) as caught:
        manifest_files.load_desired([str(tmp_path)])
    files = [os.path.basename(issue.location.file) for issue in caught.value.issues]
    assert files == ["a.yaml", "b.yaml", "c.yaml"]
    assert "duplicate name 'x'" in caught.value.issues[2].message


def test_check_manifests_counts_files_and_keeps_valid_entries(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", VALID.format(name="good"))
    write(tmp_path / "b.yaml", VALID.format(name="bad").replace("A100", "Z"))
    write(tmp_path / "empty.yaml", "# nothing yet\n")
    desired, issues, files = manifest_files.check_manifests([str(tmp_path)])
    assert [model.name for model in desired] == ["good"]
    assert len(issues) == 1 and files == 3


def test_a_folder_named_like_a_manifest_is_walked(tmp_path: Path) -> None:
    folder = tmp_path / "dir.yaml"  # a folder named like a manifest, given as a file path
    folder.mkdir()
    write(folder / "inner.yaml", VALID.format(name="inner"))
    desired, issues, files = manifest_files.check_manifests([str(tmp_path)])
    assert [model.name for model in desired] == ["inner"] and issues == () and files == 1


def test_examples_are_valid_and_cover_the_documented_cases() -> None:
    models = {model.name: model for model in manifest_files.load_desired([str(EXAMPLES)])}
    assert len(models) == 4
    assert {model.spec["gpuType"] for model in models.values()} >= {
        "GPU_TYPE_A100",
        "GPU_TYPE_H100",
        "GPU_TYPE_H200",
    }
    providers = {model.spec["infra"]["cloudProvider"] for model in models.values()}
    assert providers == {"CLOUD_PROVIDER_NEBIUS", "CLOUD_PROVIDER_LAMBDA", "CLOUD_PROVIDER_YOTTA"}
    assert {ref.field for model in models.values() for ref in model.secrets} == {
        "hfToken",
        "apiKey",
    }
    assert any(not model.policy.self_heal for model in models.values())
    assert all("userId" not in model.spec for model in models.values())
    for path in EXAMPLES.glob("*.yaml"):
        first_line = path.read_text().splitlines()[0]
        assert first_line == "# yaml-language-server: $schema=../../schemas/modeldeployment.v1.json"


def test_manifests_digest_is_reexported(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", VALID.format(name="a"))
    models = manifest_files.load_desired([str(tmp_path)])
    assert manifest_files.manifests_digest(models).startswith("sha256:")


def test_schema_is_found_and_is_a_valid_2020_12_schema() -> None:
    schema = schema_files.load_schema("modeldeployment.v1.json")
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$id"].endswith("modeldeployment.v1.json")
    assert set(schema_files.load_validators()) == {"tensormesh.gitops/v1"}


def test_hidden_folders_are_skipped_unless_named(tmp_path: Path) -> None:
    write(tmp_path / "deploy" / "a.yaml", VALID.format(name="a"))
    write(tmp_path / ".github" / "workflows" / "ci.yml", "on: push\njobs: {}\n")
    write(tmp_path / "deploy" / ".cache" / "b.yaml", VALID.format(name="b"))
    assert manifest_files.find_manifest_files([str(tmp_path)]) == (
        str(tmp_path / "deploy" / "a.yaml"),
    )
    named = str(tmp_path / "deploy" / ".cache")
    assert manifest_files.find_manifest_files([named]) == (os.path.join(named, "b.yaml"),)


def test_a_symlinked_folder_inside_the_tree_is_walked_once(tmp_path: Path) -> None:
    # Once skipped silently (os.walk does not follow links); now walked, loops ended.
    (tmp_path / ".git").mkdir()
    write(tmp_path / "real" / "a.yaml", VALID.format(name="a"))
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "alias").symlink_to("../real")
    (tmp_path / "deploy" / "again").symlink_to("../real")
    (tmp_path / "real" / "loop").symlink_to("../deploy")  # a cycle must end
    desired, issues, files = manifest_files.check_manifests([str(tmp_path / "deploy")])
    assert [model.name for model in desired] == ["a"] and issues == () and files == 1


def test_special_files_and_links_out_are_issues_naming_them(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    write(tree / "good.yaml", VALID.format(name="good"))
    os.mkfifo(tree / "pipe.yaml")
    os.mkfifo(tree / "notes")  # not named like a manifest: not a manifest, not opened
    (tree / "zero.yml").symlink_to("/dev/zero")
    write(tmp_path / "out" / "x.yaml", VALID.format(name="x"))
    (tree / "outlink").symlink_to(tmp_path / "out")
    (tree / "outfile.yaml").symlink_to(tmp_path / "out" / "x.yaml")
    desired, issues, _ = manifest_files.check_manifests([str(tree)])
    assert [model.name for model in desired] == ["good"]
    found = {os.path.basename(issue.location.file): issue.message for issue in issues}
    assert set(found) == {"pipe.yaml", "zero.yml", "outlink", "outfile.yaml"}
    assert "FIFO" in found["pipe.yaml"]
    assert all(
        "outside the config repository" in found[name] for name in found if name != "pipe.yaml"
    )


def test_a_link_to_elsewhere_in_the_same_git_repository_is_followed(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    write(tmp_path / "shared" / "base.yaml", VALID.format(name="shared"))
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "base.yaml").symlink_to("../shared/base.yaml")
    desired, issues, _ = manifest_files.check_manifests([str(tmp_path / "deploy")])
    assert [model.name for model in desired] == ["shared"] and issues == ()


def test_a_manifest_over_the_cap_is_refused_without_reading_it(tmp_path: Path) -> None:
    with open(tmp_path / "big.yaml", "wb") as handle:
        handle.truncate(1 << 40)  # sparse 1 TiB: reading it would exhaust memory
    _, issues, files = manifest_files.check_manifests([str(tmp_path / "big.yaml")])
    assert files == 1 and len(issues) == 1
    assert f"over the limit of {manifest_files.MAX_MANIFEST_BYTES} bytes" in issues[0].message
