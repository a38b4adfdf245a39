"""JSON Schema `pattern` means ECMA-262: `$` matches only at the very end of the string.

Python's `$` also matches before a final newline, so without care "a\\n" passed as a
manifest name, a state fingerprint or a plan digest. Both the compiled check and
jsonschema (which explains failures) must refuse it.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from reconciler.adapters import schema_files
from reconciler.core import schema_compile, validate


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        ("^[a-z]+$", "a", True),
        ("^[a-z]+$", "a\n", False),
        ("^[a-z]+$", "a\nb", False),
        (r"^a\$$", "a$", True),  # an escaped `$` stays a literal dollar
        ("^[$a]+$", "$a$", True),  # inside a class `$` is a literal too
        ("^[$a]+$", "$a\n", False),
        ("^(a|b$)", "b\n", False),
        ("^\\S+$", "x\n", False),
        ("a", "xa\n", True),  # no anchor: a search, as JSON Schema says
    ],
)
def test_compile_pattern_reads_dollar_as_ecma_does(pattern: str, text: str, matches: bool) -> None:
    assert (schema_compile.compile_pattern(pattern).search(text) is not None) is matches


def _manifest(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "tensormesh.gitops/v1",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": {
            "modelPath": "meta-llama/Llama-3.1-8B-Instruct",
            "gpuType": "GPU_TYPE_H100",
            "gpuCount": 1,
            "infra": {"cloudProvider": "CLOUD_PROVIDER_NEBIUS"},
        },
    }


MANIFEST_SCHEMA = schema_files.load_schema("modeldeployment.v1.json")


@pytest.mark.parametrize("name", ["a\n", "llama\n", "a-b\n"])
def test_a_manifest_name_with_a_final_newline_is_refused_by_both_checks(name: str) -> None:
    fast = schema_compile.compile_check(MANIFEST_SCHEMA)
    assert fast is not None
    assert fast(_manifest("llama")) is True
    assert fast(_manifest(name)) is False
    explainer = validate._strict_validator_class()(MANIFEST_SCHEMA)
    assert explainer.is_valid(_manifest("llama"))
    assert not explainer.is_valid(_manifest(name))
    # And the validator in use says so, naming the field.
    checker = validate.compile_schema(MANIFEST_SCHEMA)
    assert not checker.is_valid(_manifest(name))
    errors = checker.iter_errors(_manifest(name))
    assert any("name" in list(error.absolute_path) for error in errors)


def _state() -> dict[str, Any]:
    return {
        "formatVersion": 1,
        "lineage": "0f0e0d0c-0b0a-4908-8706-050403020100",
        "serial": 3,
        "salt": "ab" * 32,
        "generator": "tensormesh-reconciler 0.1.0",
        "entries": {
            "llama-8b": {
                "name": "llama-8b",
                "modelId": "m-1",
                "status": "MODEL_STATUS_UP",
                "spec": {"gpuCount": 1},
                "specDigest": "sha256:" + "0" * 64,
                "secrets": {},
            }
        },
        "intents": {},
    }


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("lineage",), "0f0e0d0c-0b0a-4908-8706-050403020100\n"),
        (("salt",), "ab" * 32 + "\n"),
        (("generator",), "tensormesh-reconciler 0.1.0\n"),
        (("entries", "llama-8b", "name"), "llama-8b\n"),
        (("entries", "llama-8b", "specDigest"), "sha256:" + "0" * 64 + "\n"),
    ],
)
def test_state_values_with_a_final_newline_are_refused(path: tuple[str, ...], value: str) -> None:
    document = copy.deepcopy(_state())
    target: Any = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert schema_files.check_document("state.v1.json", _state()) is None
    check = schema_compile.compile_check(schema_files.load_schema("state.v1.json"))
    assert check is not None and check(document) is False
    problem = schema_files.check_document("state.v1.json", document)
    assert problem is not None and problem.startswith("$." + path[0])
    assert not schema_files.validator_for("state.v1.json").is_valid(document)


def test_plan_schema_patterns_are_ecma_too() -> None:
    schema = schema_files.load_schema("plan.v1.json")
    patterns = _patterns(schema)
    assert patterns, "the plan schema has patterns"
    validator = schema_files.validator_for("plan.v1.json")
    for pattern in patterns:
        rule = {"type": "string", "pattern": pattern}
        check = schema_compile.compile_check(rule)
        assert check is not None
        extended = type(validator)(rule)
        for text in ("x\n", "0" * 64 + "\n", "sha256:" + "0" * 64 + "\n"):
            assert check(text) is False, (pattern, text)
            assert not extended.is_valid(text), (pattern, text)


def _patterns(schema: Any) -> list[str]:
    found: list[str] = []
    stack = [schema]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("pattern"), str):
                found.append(item["pattern"])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found
