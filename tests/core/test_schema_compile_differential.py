"""Differential: the compiled check and jsonschema agree on valid/invalid for generated
documents: valid manifests and states, and the same with random mutations (a value
replaced by any JSON value, a key dropped, an unknown key added).

Each schema is compared with the jsonschema validator that decides for it in the product:
manifests with validate's strict integers (no 1.0, no true), states with plain
Draft 2020-12 (schema_files).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.adapters import schema_files
from reconciler.core import schema_compile, validate
from tests.core.test_schema_compile_state import _state
from tests.support.examples import examples

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "manifests"
MANIFESTS = [
    yaml.safe_load(path.read_text(encoding="utf-8")) for path in sorted(EXAMPLES.glob("*.yaml"))
]

# Values a hand-edited file or a hostile generator could hold: near misses of what the
# schemas want (patterned strings with a trailing newline, 1.0 for 1, booleans for
# numbers, huge and negative integers, empty and nested containers).
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, 8, 1.0, 2.5, -1, 2**63 - 1, 2**63, 1e300]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(
        [
            "",
            "llama-8b",
            "llama-8b\n",
            "Llama_8B",
            "GPU_TYPE_H100",
            "GPU_TYPE_H100\n",
            "CLOUD_PROVIDER_NEBIUS",
            "tensormesh.gitops/v1",
            "ModelDeployment",
            "sha256:" + "0" * 64,
            "sha256:" + "0" * 64 + "\n",
            "hmac-sha256:" + "1" * 64,
            "ab" * 32,
            "HF_TOKEN",
            "m-1",
            "create",
            "x" * 300,
        ]
    ),
)
JSON_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def _children(doc: Any) -> Any:
    if isinstance(doc, dict):
        return doc.items()
    return enumerate(doc) if isinstance(doc, list) else ()


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside `doc` (the root excluded)."""
    found: list[tuple[Any, ...]] = []
    items = _children(doc)
    for key, value in items:
        found.append((*prefix, key))
        found.extend(_paths(value, (*prefix, key)))
    return found


def _containers(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to an object inside `doc`, the root included."""
    found = [prefix] if isinstance(doc, dict) else []
    items = _children(doc)
    for key, value in items:
        found.extend(_containers(value, (*prefix, key)))
    return found


def _at(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


def _near_misses(value: Any) -> list[Any]:
    """Values one step from `value`: what a careless edit or a lax writer turns it into."""
    if isinstance(value, bool):
        return [int(value), str(value).lower(), None]
    if isinstance(value, int):
        return [float(value), value + 0.5, -value - 1, str(value), value == 1, 2**63]
    if isinstance(value, str):
        return [value + "\n", "\n" + value, value.upper(), value[:-1], value + "x", "", value * 9]
    if isinstance(value, dict):
        return [[], {}, list(value.values())]
    if isinstance(value, list):
        return [{}, [], value + value]
    return [0, "", False]


@st.composite
def _mutated(draw: st.DrawFn, base: Any) -> Any:
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        kind = draw(st.sampled_from(["replace", "near", "drop", "add"]))
        if kind == "add":
            target = _at(doc, draw(st.sampled_from(_containers(doc))))
            target[draw(st.text(max_size=10))] = draw(JSON_VALUES)
            continue
        paths = _paths(doc)
        if not paths:
            continue
        path = draw(st.sampled_from(paths))
        parent = _at(doc, path[:-1])
        if kind == "replace":
            parent[path[-1]] = draw(JSON_VALUES)
        elif kind == "near":
            parent[path[-1]] = draw(st.sampled_from(_near_misses(parent[path[-1]])))
        elif isinstance(parent, dict):
            del parent[path[-1]]
    return doc


def _agree(schema_name: str, reference: Any, document: Any) -> None:
    strict = schema_name == MANIFEST_SCHEMA  # as validate.compile_schema / schema_files compile
    check = schema_compile.compile_check(
        schema_files.load_schema(schema_name), strict_integers=strict
    )
    assert check is not None, f"{schema_name} must compile"
    expected = reference.is_valid(document)
    assert check(copy.deepcopy(document)) is expected, (schema_name, document)


MANIFEST_SCHEMA = "modeldeployment.v1.json"
_manifest_reference = validate._strict_validator_class()(schema_files.load_schema(MANIFEST_SCHEMA))
_state_reference = schema_files.validator_for("state.v1.json")


def test_the_unmutated_bases_are_valid() -> None:
    for manifest in MANIFESTS:
        assert _manifest_reference.is_valid(manifest)
    assert _state_reference.is_valid(_state())


@settings(max_examples=examples(400), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_manifests_valid_and_mutated(data: st.DataObject) -> None:
    base = data.draw(st.sampled_from(MANIFESTS))
    _agree(MANIFEST_SCHEMA, _manifest_reference, data.draw(_mutated(base)))


@settings(max_examples=examples(400), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_states_valid_and_mutated(data: st.DataObject) -> None:
    _agree("state.v1.json", _state_reference, data.draw(_mutated(_state())))


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("llama-8b\n", "Python's `$` matches before a final newline, in both"),
        ("sha256:" + "0" * 64 + "\n", "the same, for a digest"),
    ],
)
def test_a_trailing_newline_gets_the_same_verdict(value: str, why: str) -> None:
    manifest = copy.deepcopy(MANIFESTS[0])
    manifest["metadata"]["name"] = value
    _agree(MANIFEST_SCHEMA, _manifest_reference, manifest)
    state = _state()
    state["entries"]["llama-8b"]["specDigest"] = value
    _agree("state.v1.json", _state_reference, state)
