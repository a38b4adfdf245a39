"""core.validate: schema and semantic checks on parsed documents, messages and paths."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from reconciler.core import schema_compile, validate
from reconciler.core.manifest_versions import JsonPath
from reconciler.core.model import (
    Location,
    ReconcilePolicy,
    ReplaceStrategy,
    SecretRef,
    SecretSource,
)

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "schemas" / "modeldeployment.v1.json").read_text()
)
VALIDATORS = {"tensormesh.gitops/v1": validate.compile_schema(SCHEMA)}


@dataclass
class FakeLocator:
    """Encodes the path in the location so tests can see where an issue points."""

    file: str = "m.yaml"
    calls: list[tuple[JsonPath, bool]] = field(default_factory=list)

    def locate(self, path: JsonPath, *, at_key: bool = False) -> Location:
        self.calls.append((path, at_key))
        return Location(self.file, len(path) + 1, 2 if at_key else 1)


def document(content: Any, file: str = "dir/m.yaml") -> validate.ManifestDocument:
    return validate.ManifestDocument(file, 0, content, FakeLocator(file))


def valid(**spec_changes: Any) -> dict[str, Any]:
    content: dict[str, Any] = {
        "apiVersion": "tensormesh.gitops/v1",
        "kind": "ModelDeployment",
        "metadata": {"name": "llama", "labels": {"team": "search"}},
        "spec": {
            "modelPath": "meta-llama/Llama-3.1-8B-Instruct",
            "gpuType": "GPU_TYPE_H100",
            "gpuCount": 1,
            "infra": {"cloudProvider": "CLOUD_PROVIDER_NEBIUS"},
        },
    }
    content["spec"].update(spec_changes)
    return content


def check(*contents: Any) -> validate.CheckResult:
    return validate.check_documents([document(c) for c in contents], VALIDATORS)


def messages(content: Any) -> list[tuple[str, str]]:
    return [(issue.json_path, issue.message) for issue in check(content).issues]


def with_(path: tuple[str, ...], value: Any, base: dict[str, Any] | None = None) -> dict[str, Any]:
    content = copy.deepcopy(base or valid())
    target = content
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return content


def without(path: tuple[str, ...]) -> dict[str, Any]:
    content = valid()
    target = content
    for part in path[:-1]:
        target = target[part]
    del target[path[-1]]
    return content


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            ["a"],
            [
                (
                    "$",
                    "a manifest document must be a mapping with apiVersion, kind, metadata "
                    "and spec, got list",
                )
            ],
        ),
        (
            "text",
            [
                (
                    "$",
                    "a manifest document must be a mapping with apiVersion, kind, metadata "
                    "and spec, got string",
                )
            ],
        ),
        (
            without(("apiVersion",)),
            [("$", "missing required field 'apiVersion' (supported: tensormesh.gitops/v1)")],
        ),
        (
            with_(("apiVersion",), "tensormesh.gitops/v2"),
            [
                (
                    "$.apiVersion",
                    "unknown apiVersion 'tensormesh.gitops/v2'; supported: tensormesh.gitops/v1",
                )
            ],
        ),
        (with_(("kind",), "Pod"), [("$.kind", "expected 'ModelDeployment', got 'Pod'")]),
        (without(("spec", "modelPath")), [("$.spec", "missing required field 'modelPath'")]),
        (without(("metadata", "name")), [("$.metadata", "missing required field 'name'")]),
        (with_(("spec", "gpuCount"), "1"), [("$.spec.gpuCount", "expected integer, got string")]),
        (with_(("spec", "gpuCount"), 1.0), [("$.spec.gpuCount", "expected integer, got number")]),
        (with_(("spec", "gpuCount"), True), [("$.spec.gpuCount", "expected integer, got boolean")]),
        (with_(("spec", "gpuCount"), 0), [("$.spec.gpuCount", "must be at least 1, got 0")]),
        (with_(("spec", "gpuType"), 3), [("$.spec.gpuType", "expected string, got integer")]),
        (with_(("spec", "infra"), "nebius"), [("$.spec.infra", "expected mapping, got string")]),
        (
            with_(("spec", "gpuCnt"), 2),
            [("$.spec.gpuCnt", "unknown field 'gpuCnt'; did you mean 'gpuCount'?")],
        ),
        (
            with_(("spec", "zzz"), 2),
            [
                (
                    "$.spec.zzz",
                    "unknown field 'zzz' (allowed: apiKey, "
                    "cpuOffloadingEnabled, description, gpuCount, gpuType, "
                    "hfToken, infra, kvCacheEnabled, modelPath, modelSpec, "
                    "nodeId, userId)",
                )
            ],
        ),
        (
            with_(("metadata", "labels"), {"team": 1}),
            [("$.metadata.labels.team", "expected string, got integer")],
        ),
        (
            with_(("metadata", "name"), "-llama"),
            [
                (
                    "$.metadata.name",
                    "'-llama' is not a valid name: use 1-63 lowercase letters, digits "
                    "and '-', starting and ending with a letter or digit",
                )
            ],
        ),
        (
            with_(("spec", "userId"), "not-a-uuid"),
            [
                (
                    "$.spec.userId",
                    "'not-a-uuid' is not a valid userId: expected a UUID like "
                    "3f0c6d2e-8a1b-4c5d-9e7f-0a1b2c3d4e5f",
                )
            ],
        ),
        (
            with_(
                ("spec", "infra", "cloudProvider"),
                "CLOUD_PROVIDER_LAMBDA",
                with_(("spec", "infra", "nebiusRegion"), "NEBIUS_REGION_EU_NORTH1"),
            ),
            [
                (
                    "$.spec.infra.nebiusRegion",
                    "nebiusRegion is only allowed with cloudProvider "
                    "CLOUD_PROVIDER_NEBIUS, not CLOUD_PROVIDER_LAMBDA; "
                    "remove it or change the provider",
                )
            ],
        ),
        (
            with_(("spec", "infra", "lambdaRegion"), "LAMBDA_REGION_US_EAST_1"),
            [
                (
                    "$.spec.infra.lambdaRegion",
                    "lambdaRegion is only allowed with cloudProvider "
                    "CLOUD_PROVIDER_LAMBDA, not CLOUD_PROVIDER_NEBIUS; "
                    "remove it or change the provider",
                )
            ],
        ),
        (
            with_(("spec", "hfToken"), {"fromEnv": "1BAD"}),
            [
                (
                    "$.spec.hfToken.fromEnv",
                    "fromEnv must name an environment variable (letters, digits, '_')",
                )
            ],
        ),
        (
            with_(("spec", "apiKey"), {"fromFile": ""}),
            [("$.spec.apiKey.fromFile", "fromFile must be a non-empty string")],
        ),
        (
            with_(("reconcile",), {"selfHeal": "no"}),
            [("$.reconcile.selfHeal", "expected boolean, got string")],
        ),
        (
            with_(("spec", "gpuType"), "H100"),
            [
                (
                    "$.spec.gpuType",
                    "'H100' is not one of GPU_TYPE_A100, GPU_TYPE_H100, GPU_TYPE_H200, "
                    "GPU_TYPE_B200; did you mean GPU_TYPE_H100?",
                )
            ],
        ),
        (
            with_(("spec", "infra", "cloudProvider"), "lambda"),
            [
                (
                    "$.spec.infra.cloudProvider",
                    "'lambda' is not a valid cloudProvider: expected CLOUD_PROVIDER_<NAME>, e.g. "
                    "CLOUD_PROVIDER_NEBIUS; did you mean CLOUD_PROVIDER_LAMBDA?",
                )
            ],
        ),
        (
            with_(("reconcile",), {"protect": "yes"}),
            [("$.reconcile.protect", "expected boolean, got string")],
        ),
        (
            with_(("reconcile",), {"replaceStrategy": "createFirst"}),
            [("$.reconcile.replaceStrategy", "'createFirst' is not one of deleteFirst")],
        ),
    ],
)
def test_problems_are_explained(content: Any, expected: list[tuple[str, str]]) -> None:
    assert messages(content) == expected


def test_every_problem_of_a_document_is_reported() -> None:
    content = with_(("spec", "gpuCount"), 0, with_(("spec", "gpuType"), "GPU_TYPE_X"))
    del content["spec"]["modelPath"]
    content["spec"]["hfToken"] = "hf_literal"
    paths = sorted(path for path, _ in messages(content))
    assert paths == ["$.spec", "$.spec.gpuCount", "$.spec.gpuType", "$.spec.hfToken"]


def test_unknown_field_points_at_the_key_and_type_errors_at_the_value() -> None:
    result = check(with_(("spec", "gpuCnt"), 2, with_(("spec", "gpuCount"), "x")))
    places = {issue.json_path: issue.location for issue in result.issues}
    assert places["$.spec.gpuCnt"] == Location("dir/m.yaml", 3, 2)
    assert places["$.spec.gpuCount"] == Location("dir/m.yaml", 3, 1)


@pytest.mark.parametrize(
    "literal",
    [
        "hf_SECRETLITERAL",
        12345678,
        ["hf_SECRETLITERAL"],
        {"fromEnv": "A", "value": "SECRETX"},
        {"fromEnv": ["SECRETLITERAL"]},
        {"fromFile": {"x": "SECRETLITERAL"}},
        {},
    ],
)
@pytest.mark.parametrize("field_name", ["hfToken", "apiKey"])
def test_secret_messages_never_repeat_the_value(literal: Any, field_name: str) -> None:
    issues = check(with_(("spec", field_name), literal)).issues
    assert issues
    text = "\n".join(str(issue) for issue in issues)
    assert "SECRET" not in text and "12345678" not in text
    assert all(issue.json_path.startswith(f"$.spec.{field_name}") for issue in issues)


def test_duplicate_names_across_documents_name_both_places() -> None:
    first = document(valid(), "a.yaml")
    second = document(valid(), "b.yaml")
    third = document(with_(("metadata", "name"), "other"), "c.yaml")
    result = validate.check_documents([first, second, third], VALIDATORS)
    assert [str(issue) for issue in result.issues] == [
        "b.yaml:3:1: duplicate name 'llama' (also defined at a.yaml:3:1) (at $.metadata.name)"
    ]


def test_valid_documents_become_desired_models_sorted_by_name() -> None:
    zed = with_(("metadata", "name"), "zed", valid(hfToken={"fromFile": "../tok"}))
    zed["reconcile"] = {"selfHeal": False}
    result = check(zed, valid(kvCacheEnabled=False, description=""))
    assert result.issues == ()
    assert [model.name for model in result.desired] == ["llama", "zed"]
    llama, zed_model = result.desired
    assert llama.spec == {
        "modelPath": "meta-llama/Llama-3.1-8B-Instruct",
        "gpuType": "GPU_TYPE_H100",
        "gpuCount": 1,
        "infra": {"cloudProvider": "CLOUD_PROVIDER_NEBIUS"},
    }
    assert llama.labels == {"team": "search"}
    assert llama.policy == ReconcilePolicy()
    assert llama.location == Location("dir/m.yaml", 3, 1)
    assert "hfToken" not in zed_model.spec and "name" not in zed_model.spec
    assert zed_model.secrets == (
        SecretRef("hfToken", SecretSource.FROM_FILE, "../tok", base_dir="dir"),
    )
    assert zed_model.policy == ReconcilePolicy(False, ReplaceStrategy.DELETE_FIRST)


def test_invalid_documents_are_left_out_of_the_desired_set() -> None:
    result = check(valid(), with_(("metadata", "name"), "b", valid(gpuCount=0)))
    assert [model.name for model in result.desired] == ["llama"]
    assert len(result.issues) == 1


def test_valid_documents_cost_one_position_lookup() -> None:
    doc = document(valid())
    validate.check_documents([doc], VALIDATORS)
    assert isinstance(doc.locator, FakeLocator)
    # metadata.name for the desired location and for the duplicate-name index; nothing else.
    assert {call for call in doc.locator.calls} == {(("metadata", "name"), False)}


@pytest.mark.parametrize(
    ("path", "expected"),
    [((), "$"), (("spec", "gpuCount"), "$.spec.gpuCount"), (("a", 0, "b c"), "$.a[0]['b c']")],
)
def test_format_json_path(path: JsonPath, expected: str) -> None:
    assert validate.format_json_path(path) == expected


# The compiled fast check must agree with jsonschema on every instance, valid or not.
MUTATIONS: list[Any] = [
    valid(),
    valid(kvCacheEnabled=True, modelSpec={"a": [1, {"b": None}]}, nodeId="n", description="d"),
    valid(hfToken={"fromEnv": "HF"}, apiKey={"fromFile": "k.txt"}),
    valid(userId="3f0c6d2e-8a1b-4c5d-9e7f-0a1b2c3d4e5f"),
    with_(("reconcile",), {"selfHeal": True, "replaceStrategy": "deleteFirst"}),
    with_(("metadata", "annotations"), {"a": "b"}),
    valid(gpuCount=0),
    valid(gpuCount=True),
    valid(gpuCount=2.0),
    valid(gpuCount="2"),
    valid(gpuType="GPU_TYPE_X"),
    valid(gpuType=None),
    valid(modelSpec=[]),
    valid(modelPath=""),
    valid(modelPath="has space"),
    valid(hfToken={}),
    valid(hfToken={"fromEnv": "A", "fromFile": "b"}),
    valid(hfToken={"fromEnv": "1A"}),
    valid(hfToken={"other": "x"}),
    valid(hfToken="literal"),
    valid(userId="x"),
    valid(kvCacheEnabled="true"),
    valid(extra=1),
    with_(("spec", "infra"), {}),
    with_(("spec", "infra"), {"cloudProvider": "aws"}),
    with_(("spec", "infra", "zone"), "z"),
    with_(("spec", "infra", "onpremRegion"), 5),
    with_(("metadata", "name"), "a" * 63),
    with_(("metadata", "name"), "a" * 64),
    with_(("metadata", "name"), ""),
    with_(("metadata", "name"), "ab-"),
    with_(("metadata", "labels"), []),
    with_(("metadata", "labels"), {"a": None}),
    with_(("metadata", "extra"), 1),
    with_(("kind",), "X"),
    with_(("reconcile",), None),
    with_(("reconcile",), {"x": 1}),
    without(("spec", "infra")),
    without(("metadata",)),
    [],
    None,
    "x",
    1,
]


@pytest.mark.parametrize("instance", MUTATIONS)
def test_fast_check_agrees_with_jsonschema(instance: Any) -> None:
    fast = schema_compile.compile_check(SCHEMA)
    assert fast is not None
    explainer = validate._strict_validator_class()(SCHEMA)
    assert fast(instance) == explainer.is_valid(instance)


def test_fast_check_gives_up_on_keywords_it_does_not_know() -> None:
    assert schema_compile.compile_check({"type": "object", "oneOf": [{}, {}]}) is None
    assert schema_compile.compile_check({"$ref": "https://example.com/x.json"}) is None
    assert schema_compile.compile_check({"enum": [1, True]}) is None
    # ... and compile_schema then falls back to jsonschema alone.
    fallback = validate.compile_schema({"type": "object", "oneOf": [{"required": ["a"]}]})
    assert fallback.is_valid({"a": 1}) and not fallback.is_valid({})
