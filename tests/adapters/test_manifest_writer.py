"""manifest_writer: what it renders reads back (with our strict YAML 1.2 loader and the
validate checks) as exactly the document it was given; a file is created, never replaced."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.adapters import manifest_writer, schema_files, yaml_loader
from reconciler.core import validate
from reconciler.core.live_manifest import manifest_from_live
from reconciler.core.model import LiveModel
from reconciler.core.ownership import Mark, add_mark
from tests.support.golden import assert_golden

BASE = {
    "modelPath": "meta-llama/Llama-3.1-8B-Instruct",
    "gpuType": "GPU_TYPE_H100",
    "gpuCount": 1,
    "infra": {"cloudProvider": "CLOUD_PROVIDER_NEBIUS"},
}
TRICKY = [
    "1e5", "0o17", "0x1F", "1_000", "yes", "no", "on", "null", "~", "true", "False", ".inf",
    "-.5", "+1", "12:30", "2026-01-01", "#not a comment", "a: b", "- item", "[x]", "{y}",
    " leading", "trailing ", "*alias", "&anchor", "!tag", "%directive", "@at", "`tick`",
    "line\nline", "ends with newline\n", "\n\nleading newlines", "tab\there", "caf\u00e9 \u2603",
    "quote ' and \" both", "\x1b[31mred\x1b[0m", "nul\x00", "bell\x07", "\u2028sep", "",
]  # fmt: skip


def draft_for(spec: dict[str, Any], **kw: Any):
    model = LiveModel("m-1", "llama", "MODEL_STATUS_UP", spec)
    return manifest_from_live(model, secret_envs={}, **kw)


def read_back(data: bytes) -> tuple[Any, tuple[Any, ...]]:
    loaded = yaml_loader.load_file_bytes(data, "m/llama.yaml")
    result = validate.check_documents(loaded.documents, schema_files.load_validators())
    content = loaded.documents[0].content if loaded.documents else None
    return content, (*loaded.issues, *result.issues)


@pytest.mark.parametrize("text", TRICKY)
def test_tricky_strings_read_back_as_written(text: str) -> None:
    spec = {**BASE, "description": text, "modelSpec": {"value": text, text or "k": [text]}}
    draft = draft_for(spec)
    data = manifest_writer.render_manifest(draft, schema_ref="../schemas/x.json", folder="m")
    content, issues = read_back(data)
    assert issues == ()
    assert content == draft.document


@settings(max_examples=100, deadline=None)
@given(
    description=st.text(),
    model_spec=st.dictionaries(
        st.text(min_size=1),
        st.recursive(
            st.none()
            | st.booleans()
            | st.integers(min_value=-(2**63), max_value=2**63 - 1)  # the API parser's range
            | st.text()
            | st.floats(allow_nan=False, allow_infinity=False),
            lambda inner: (
                st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3)
            ),
            max_leaves=8,
        ),
        max_size=4,
    ),
)
def test_any_reported_values_read_back_as_written(description: str, model_spec: dict) -> None:
    draft = draft_for({**BASE, "description": description, "modelSpec": model_spec})
    data = manifest_writer.render_manifest(draft, schema_ref="s.json", folder="m")
    content, issues = read_back(data)
    assert issues == ()
    assert content == draft.document


def test_the_file_starts_with_the_schema_comment_and_keeps_unreported_fields_commented() -> None:
    draft = draft_for(dict(BASE))
    data = manifest_writer.render_manifest(draft, schema_ref="../schemas/s.json", folder="m")
    text = data.decode()
    lines = text.splitlines()
    assert lines[0] == "# yaml-language-server: $schema=../schemas/s.json"
    for field in ("kvCacheEnabled", "cpuOffloadingEnabled", "nodeId", "hfToken", "apiKey"):
        (line,) = [line for line in lines if f"# {field}:" in line]
        assert line.startswith("  # ") and line.endswith("# not reported by the API")
        # Uncommented, each reads back as a valid manifest.
        uncommented = text.replace(line, "  " + line.split("# ", 1)[1].split("  #")[0])
        content, issues = read_back(uncommented.encode())
        assert issues == () and field in content["spec"]


def test_a_model_id_with_a_line_break_cannot_inject_yaml() -> None:
    draft = manifest_from_live(
        LiveModel("x\nspec: {}", "llama", "MODEL_STATUS_UP", dict(BASE)), secret_envs={}
    )
    data = manifest_writer.render_manifest(draft, schema_ref="s\nkind: X", folder="a\nb")
    content, issues = read_back(data)
    assert issues == () and content == draft.document


def test_create_new_file_never_replaces_anything(tmp_path: Path) -> None:
    target = tmp_path / "llama.yaml"
    manifest_writer.create_new_file(target, b"first\n")
    assert target.read_bytes() == b"first\n"
    with pytest.raises(FileExistsError):
        manifest_writer.create_new_file(target, b"second\n")
    assert target.read_bytes() == b"first\n"
    dangling = tmp_path / "dangling.yaml"
    dangling.symlink_to(tmp_path / "nowhere")
    with pytest.raises(FileExistsError):
        manifest_writer.create_new_file(dangling, b"x\n")
    assert not (tmp_path / "nowhere").exists()
    assert sorted(os.listdir(tmp_path)) == ["dangling.yaml", "llama.yaml"]  # no temp files


def test_create_new_file_in_a_read_only_folder_leaves_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("running as a user who can write anywhere")
        with pytest.raises(PermissionError):
            manifest_writer.create_new_file(folder / "llama.yaml", b"x\n")
        assert os.listdir(folder) == []
    finally:
        folder.chmod(0o700)


def test_schema_ref_points_at_the_nearest_schemas_folder(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "schemas").mkdir(parents=True)
    (repo / "schemas" / "modeldeployment.v1.json").write_text("{}")
    assert manifest_writer.schema_ref_for(repo / "deploy" / "models") == (
        "../../schemas/modeldeployment.v1.json"
    )
    assert manifest_writer.schema_ref_for(repo) == "schemas/modeldeployment.v1.json"
    assert manifest_writer.schema_ref_for(tmp_path / "elsewhere") == manifest_writer.SCHEMA_ID


def test_zero_values_as_the_api_may_send_them_are_left_out() -> None:
    """grpc-gateway may emit zero values (`""`, `"0"`, `{}`, `_UNSPECIFIED`) instead of
    omitting them: they mean "not set" and must not become manifest fields."""
    from reconciler.adapters.live_model import parse_model

    live = parse_model(
        {
            "modelId": "m-1",
            "modelName": "llama",
            "status": "MODEL_STATUS_UP",
            "description": "",
            "modelPath": "meta-llama/Llama-3.1-8B-Instruct",
            "gpuType": "GPU_TYPE_H100",
            "gpuCount": "1",
            "replicas": "0",
            "modelSpec": {},
            "infra": {
                "cloudProvider": "CLOUD_PROVIDER_NEBIUS",
                "nebiusRegion": "",
                "lambdaRegion": "LAMBDA_REGION_UNSPECIFIED",
                "onpremRegion": "",
            },
        }
    )
    draft = manifest_from_live(live, secret_envs={})
    assert draft.document["spec"] == BASE
    data = manifest_writer.render_manifest(draft, schema_ref="s.json", folder="m")
    fields = [line for line in data.decode().splitlines() if not line.lstrip().startswith("#")]
    for word in ("description", "Region", "modelSpec", "replicas", '""'):
        assert not any(word in line for line in fields), word
    assert read_back(data) == (draft.document, ())


def test_a_written_manifest_as_people_read_it() -> None:
    infra = {"cloudProvider": "CLOUD_PROVIDER_NEBIUS", "nebiusRegion": "NEBIUS_REGION_EU_NORTH1"}
    model = LiveModel(
        "00000000-0000-4000-8000-000000000001",
        "llama-8b-chat",
        "MODEL_STATUS_UP",
        {
            **BASE,
            "infra": infra,
            "description": add_mark("Chat model for search", Mark("l1", "n1")),
            "modelSpec": {"args": ["--max-model-len", 8192]},
        },
    )
    draft = manifest_from_live(model, secret_envs={"hfToken": "HF_TOKEN"})
    data = manifest_writer.render_manifest(
        draft, schema_ref="../../schemas/modeldeployment.v1.json", folder="deploy/models"
    )
    assert_golden("adopted-manifest.yaml", data.decode())
