"""manifest_from_live: a live model as its manifest, normalised as drift compares, so the
manifest read back equals the live model; name_problem: the name rule in words."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from reconciler.core.desired import make_desired
from reconciler.core.live_manifest import (
    UNREPORTED_FIELDS,
    UNREPORTED_PLACEHOLDERS,
    manifest_from_live,
    name_problem,
)
from reconciler.core.model import SECRET_FIELDS, LiveModel, Location, ReconcilePolicy
from reconciler.core.ownership import Mark, add_mark
from reconciler.core.spec import LIVE_FIELDS, live_differences, normalize_spec
from tests.support.sandbox import PROJECT_ROOT

BASE = {
    "modelPath": "meta-llama/Llama-3.1-8B-Instruct",
    "gpuType": "GPU_TYPE_H100",
    "gpuCount": 1,
    "infra": {"cloudProvider": "CLOUD_PROVIDER_NEBIUS"},
}
MARK = Mark("6f1c2b7e-3d4a-4c5b-8e9f-0a1b2c3d4e5f", "abc123")
USER = "3f0c6d2e-8a1b-4c5d-9e7f-0a1b2c3d4e5f"

CASES: list[tuple[str, dict[str, Any], dict[str, str], str | None, dict[str, Any]]] = [
    ("minimal", {}, {}, None, {}),
    (
        "zero values are absent",
        {
            "description": "",
            "modelSpec": {},
            "infra": {"cloudProvider": "CLOUD_PROVIDER_NEBIUS", "nebiusRegion": ""},
            "kvCacheEnabled": False,
            "nodeId": "",
        },
        {},
        None,
        {},
    ),
    ("int64 as a string", {"gpuCount": "4"}, {}, None, {"gpuCount": 4}),
    (
        "every reported field, in manifest order",
        {
            "modelSpec": {"args": ["--max-model-len", 8192]},
            "description": "Chat model",
            "infra": {"nebiusRegion": "NEBIUS_REGION_EU_NORTH1", "cloudProvider": "X"},
        },
        {},
        None,
        {
            "infra": {"cloudProvider": "X", "nebiusRegion": "NEBIUS_REGION_EU_NORTH1"},
            "description": "Chat model",
            "modelSpec": {"args": ["--max-model-len", 8192]},
        },
    ),
    (
        "the mark trailer is not the user's description",
        {"description": add_mark("Chat model", MARK)},
        {},
        None,
        {"description": "Chat model"},
    ),
    ("a description that is only the mark", {"description": add_mark(None, MARK)}, {}, None, {}),
    (
        "secrets as references",
        {},
        {"hfToken": "HF_TOKEN", "apiKey": "LLAMA_KEY"},
        None,
        {"apiKey": {"fromEnv": "LLAMA_KEY"}, "hfToken": {"fromEnv": "HF_TOKEN"}},
    ),
    ("an explicit user", {}, {}, USER, {"userId": USER}),
    (
        "fields the API never reports are never guessed",
        {"kvCacheEnabled": True, "cpuOffloadingEnabled": True, "nodeId": "node-a"},
        {},
        None,
        {},
    ),
]


@pytest.mark.parametrize(
    ("live_spec", "secret_envs", "user_id", "extra"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_manifest_from_live(
    live_spec: dict[str, Any],
    secret_envs: dict[str, str],
    user_id: str | None,
    extra: dict[str, Any],
) -> None:
    spec_in = {**BASE, **live_spec, "infra": live_spec.get("infra", BASE["infra"])}
    live = LiveModel("m-1", "llama", "MODEL_STATUS_UP", spec_in)
    draft = manifest_from_live(live, secret_envs=secret_envs, user_id=user_id)
    expected = {**BASE, **extra}
    assert draft.document["spec"] == expected
    assert list(draft.document["spec"])[:4] == ["modelPath", "gpuType", "gpuCount", "infra"]
    assert draft.document["metadata"] == {"name": "llama"}
    assert draft.document["apiVersion"] == "tensormesh.gitops/v1"
    assert draft.unreported == (
        *UNREPORTED_FIELDS,
        *(field for field in SECRET_FIELDS if field not in secret_envs),
    )
    # Read back as a manifest, it equals the live model where drift detection looks.
    desired = make_desired(
        name="llama",
        spec=draft.document["spec"],
        labels={},
        policy=ReconcilePolicy(),
        location=Location("x.yaml"),
        base_dir=".",
    )
    assert live_differences(desired.spec, normalize_spec(live.spec)) == ()


def test_every_spec_field_of_the_schema_is_either_reported_or_named_unreported() -> None:
    schema = json.loads((PROJECT_ROOT / "schemas" / "modeldeployment.v1.json").read_text())
    fields = set(schema["$defs"]["spec"]["properties"])
    assert fields == set(LIVE_FIELDS) | {"userId"} | set(UNREPORTED_FIELDS) | set(SECRET_FIELDS)
    assert set(UNREPORTED_PLACEHOLDERS) == set(UNREPORTED_FIELDS)


NAMES = [
    ("llama-8b-chat", None),
    ("a", None),
    ("a" * 63, None),
    ("", "empty"),
    ("a" * 64, "64 characters long"),
    ("Llama", "'L'"),
    ("llama_8b", "'_'"),
    ("llama.8b", "'.'"),
    ("../etc/passwd", "'.', '/'"),
    ("caf\u00e9", "'\\xe9'"),
    ("evil\x1b[31m", "'\\x1b'"),
    ("-llama", "start and end"),
    ("llama-", "start and end"),
    ("-", "start and end"),
]


@pytest.mark.parametrize(("name", "words"), NAMES)
def test_name_problem_says_the_rule_broken(name: str, words: str | None) -> None:
    problem = name_problem(name)
    if words is None:
        assert problem is None
    else:
        assert problem is not None and words in problem


def test_name_problem_agrees_with_the_schema_pattern() -> None:
    schema = json.loads((PROJECT_ROOT / "schemas" / "modeldeployment.v1.json").read_text())
    source = schema["$defs"]["metadata"]["properties"]["name"]["pattern"]
    # JSON Schema patterns are ECMA-262: `$` is the end of input. Python's `$` also matches
    # before a final newline, so it is spelled `\Z` here.
    pattern = re.compile(source.removesuffix("$") + r"\Z")
    alphabet = ["a", "z", "0", "9", "-", "A", "_", ".", " ", "\n", "\u00e9"]
    names = [a + b + c for a in alphabet for b in ["", *alphabet] for c in ["", *alphabet]]
    names += ["a" * n for n in (62, 63, 64)]
    for name in names:
        assert (name_problem(name) is None) == bool(pattern.search(name)), repr(name)
