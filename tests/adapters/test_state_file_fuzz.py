"""Hypothesis: mutations of a valid state (and of a saved plan and a journal line) through the
parsers. Only our own error may escape, its message never holds a secret planted as a value
(key names are names, and are shown), and what is accepted can be saved and read back to the
same state."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.adapters import journal, plan_file, state_file
from reconciler.core.errors import PlanFileError, StateError

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "state.v1.json"
GOLDEN_DOC: dict[str, Any] = json.loads(GOLDEN.read_text())
SECRET = "hf_PLANTEDSECRET42"

Path_ = tuple[Any, ...]


def all_paths(value: Any, prefix: Path_ = ()) -> list[Path_]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += all_paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += all_paths(child, (*prefix, index))
    return found


PATHS = [path for path in all_paths(GOLDEN_DOC) if path]

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**62, max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.just(SECRET)
    | st.just("hmac-sha256:" + "ab" * 32)
    | st.just("\x1b[31m")
    | st.just("\ud800")
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


def _parent(doc: Any, path: Path_) -> Any:
    for key in path[:-1]:
        doc = doc[key]
    return doc


@st.composite
def mutated_documents(draw: st.DrawFn) -> bytes:
    doc = copy.deepcopy(GOLDEN_DOC)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS))
        try:
            parent = _parent(doc, path)
            kind = draw(st.sampled_from(["replace", "delete", "add", "rename"]))
            if kind == "replace":
                parent[path[-1]] = draw(values)
            elif kind == "delete" and isinstance(parent, dict):
                parent.pop(path[-1], None)
            elif kind == "add" and isinstance(parent, dict):
                parent[draw(st.text(max_size=10))] = draw(values)
            elif kind == "rename" and isinstance(parent, dict) and path[-1] in parent:
                parent[draw(st.text(max_size=10))] = parent.pop(path[-1])
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or replaced this path
    text = json.dumps(doc, indent=2)  # may write NaN / Infinity literals
    damage = draw(st.sampled_from(["none", "truncate", "duplicate", "nest", "bytes"]))
    if damage == "truncate":
        text = text[: draw(st.integers(0, len(text)))]
    elif damage == "duplicate":
        at = draw(st.integers(0, len(text)))
        brace = text.find("{", at)
        if brace >= 0:
            text = text[: brace + 1] + '"serial": 1, "serial": 2,' + text[brace + 1 :]
    elif damage == "nest":
        depth = draw(st.integers(100, 3000))
        text = text.replace('"gpuCount": 1', '"gpuCount": ' + "[" * depth + "]" * depth, 1)
    elif damage == "bytes":
        raw = bytearray(text.encode("utf-8", "surrogatepass"))
        for _ in range(draw(st.integers(1, 4))):
            if raw:
                raw[draw(st.integers(0, len(raw) - 1))] = draw(st.integers(0, 255))
        return bytes(raw)
    return text.encode("utf-8", "surrogatepass")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_documents())
def test_parse_state_raises_only_state_error(data: bytes) -> None:
    try:
        state = state_file.parse_state(data, source="fuzz.json")
    except StateError as exc:
        message = str(exc)
        assert message.startswith("state file fuzz.json ")
        assert SECRET not in message and "\x1b" not in message and "\n" not in message
        return
    # Accepted: it can be written and read back to the same state, and printed.
    again = state_file.parse_state(state_file.encode_state(state), source="again.json")
    assert again == state
    for entry in state.entries.values():
        (entry.model_id + (entry.deployment_id or "") + entry.status).encode("utf-8")


@settings(max_examples=150, deadline=None)
@given(values, st.sampled_from(["intent", "entry", "status", "forget", "close", SECRET]))
def test_read_journal_raises_only_state_error(tmp_path_factory: Any, payload: Any, op: str) -> None:
    path = tmp_path_factory.mktemp("j") / "s.json.journal"
    line = json.dumps({"op": op, "name": "qwen-32b", "payload": payload})
    path.write_text(
        line + "\n" + '{"op":"close","name":"x"}\n', encoding="utf-8", errors="surrogatepass"
    )
    try:
        journal.read_journal(path)
    except StateError as exc:
        assert SECRET not in str(exc) and "\x1b" not in str(exc)


PLAN_DOC: dict[str, Any] = {
    "kind": "tensormesh-reconciler/plan",
    "formatVersion": 1,
    "toolVersion": "0.1.0",
    "state": {"lineage": None, "serial": 0},
    "manifestsDigest": "sha256:" + "0" * 64,
    "prune": False,
    "summary": {"create": 0, "replace": 0, "delete": 1, "noop": 0},
    "changes": [
        {
            "name": "qwen-32b",
            "action": "delete",
            "modelId": "m-1",
            "recorded": GOLDEN_DOC["entries"]["llama-8b-chat"] | {"name": "qwen-32b"},
        }
    ],
}
PLAN_PATHS = [path for path in all_paths(PLAN_DOC) if path]


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_parse_plan_raises_only_plan_file_error(data: st.DataObject) -> None:
    doc = copy.deepcopy(PLAN_DOC)
    path = data.draw(st.sampled_from(PLAN_PATHS))
    _parent(doc, path)[path[-1]] = data.draw(values)
    raw = json.dumps(doc).encode("utf-8", "surrogatepass")
    try:
        plan_file.parse_plan(raw, source="p.json")
    except PlanFileError as exc:
        assert SECRET not in str(exc) and "\x1b" not in str(exc)
