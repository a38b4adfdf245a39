"""The compiled check of the state schema agrees with jsonschema, on valid and broken states."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from reconciler.adapters import schema_files
from reconciler.core import schema_compile

SCHEMA = schema_files.load_schema("state.v1.json")
SALT = "ab" * 32
DIGEST = "sha256:" + "0" * 64
PRINT = "hmac-sha256:" + "1" * 64


def _state() -> dict[str, Any]:
    return {
        "formatVersion": 1,
        "lineage": "0f0e0d0c-0b0a-4908-8706-050403020100",
        "serial": 3,
        "salt": SALT,
        "generator": "tensormesh-reconciler 0.1.0",
        "entries": {
            "llama-8b": {
                "name": "llama-8b",
                "modelId": "m-1",
                "status": "MODEL_STATUS_UP",
                "spec": {"gpuCount": 1, "infra": {"cloudProvider": "CLOUD_PROVIDER_NEBIUS"}},
                "specDigest": DIGEST,
                "secrets": {
                    "hfToken": {"ref": {"fromEnv": "HF_TOKEN"}, "fingerprint": PRINT},
                    "apiKey": {"ref": {"fromFile": "key.txt"}, "fingerprint": None},
                },
                "userId": "u-1",
            }
        },
        "intents": {
            "qwen": {"name": "qwen", "modelName": "qwen", "attempt": 0, "action": "create"}
        },
    }


def _set(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    doc = _state()
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return doc


def _drop(path: tuple[str, ...]) -> dict[str, Any]:
    doc = _state()
    target = doc
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return doc


ENTRY = ("entries", "llama-8b")
SECRET = (*ENTRY, "secrets", "hfToken")

CASES: list[tuple[str, Any, bool]] = [
    ("valid", _state(), True),
    ("empty tables", {**_state(), "entries": {}, "intents": {}}, True),
    ("formatVersion 2", _set(("formatVersion",), 2), False),
    ("formatVersion 1.0 equals 1", _set(("formatVersion",), 1.0), True),
    ("formatVersion true", _set(("formatVersion",), True), False),
    ("serial negative", _set(("serial",), -1), False),
    ("serial bool", _set(("serial",), True), False),
    ("bad salt", _set(("salt",), "xyz"), False),
    ("missing generator", _drop(("generator",)), False),
    ("extra top field", _set(("extra",), 1), False),
    ("bad entry key", _set(("entries", "Bad_Name"), _state()["entries"]["llama-8b"]), False),
    ("secret value in spec", _set((*ENTRY, "spec", "hfToken"), "hf_x"), False),
    ("apiKey in spec", _set((*ENTRY, "spec", "apiKey"), {"fromEnv": "K"}), False),
    ("spec not object", _set((*ENTRY, "spec"), []), False),
    ("empty modelId", _set((*ENTRY, "modelId"), ""), False),
    ("missing specDigest", _drop((*ENTRY, "specDigest")), False),
    ("unknown secret field", _set((*ENTRY, "secrets", "password"), {"ref": {}}), False),
    ("fingerprint wrong", _set((*SECRET, "fingerprint"), "md5:00"), False),
    ("fingerprint int", _set((*SECRET, "fingerprint"), 5), False),
    ("ref two keys", _set((*SECRET, "ref"), {"fromEnv": "A", "fromFile": "B"}), False),
    ("ref empty", _set((*SECRET, "ref"), {}), False),
    ("ref unknown source", _set((*SECRET, "ref"), {"fromVault": "A"}), False),
    ("intent bad action", _set(("intents", "qwen", "action"), "delete"), False),
    ("intent attempt float", _set(("intents", "qwen", "attempt"), 1.5), False),
    ("deploymentId null", _set((*ENTRY, "deploymentId"), None), False),
    ("not an object", [], False),
]


@pytest.mark.parametrize(("label", "document", "valid"), CASES, ids=[c[0] for c in CASES])
def test_compiled_state_check_agrees_with_jsonschema(
    label: str, document: Any, valid: bool
) -> None:
    check = schema_compile.compile_check(SCHEMA)
    assert check is not None, "the state schema must compile: loading big states depends on it"
    assert Draft202012Validator(SCHEMA).is_valid(document) is valid, label
    assert check(copy.deepcopy(document)) is valid, label


def test_check_document_explains_failures_with_jsonschema() -> None:
    assert schema_files.check_document("state.v1.json", _state()) is None
    problem = schema_files.check_document("state.v1.json", _set(("serial",), -1))
    assert problem is not None and problem.startswith("$.serial")
