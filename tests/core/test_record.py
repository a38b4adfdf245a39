"""Recorded-state transitions: table tests, JSON round trips, and replay == live."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.core import record
from reconciler.core.errors import StateError
from reconciler.core.model import Action, Intent, RecordedEntry, RecordedSecret, State
from reconciler.core.record import JournalRecord
from reconciler.core.spec import spec_digest
from tests.support.examples import examples

SALT = "ab" * 32
LINEAGE = "0b0e3c1a-5d43-4a8e-9a51-3f4d1c0e7b21"


def entry(name: str, model_id: str = "m-1", status: str = "MODEL_STATUS_INIT") -> RecordedEntry:
    spec = {"modelPath": "meta-llama/Llama-3.1-8B-Instruct", "gpuCount": 1}
    return RecordedEntry(
        name=name,
        model_id=model_id,
        spec=spec,
        spec_digest=spec_digest(spec),
        status=status,
        secrets={"hfToken": RecordedSecret(ref={"fromEnv": "HF_TOKEN"}, fingerprint=None)},
    )


def intent(name: str, attempt: int = 1) -> Intent:
    return Intent(name=name, model_name=name, attempt=attempt, action=Action.CREATE)


def base() -> State:
    return record.new_state(lineage=LINEAGE, salt=SALT)


def test_new_state_is_empty_at_serial_zero() -> None:
    state = base()
    assert (state.serial, dict(state.entries), dict(state.intents)) == (0, {}, {})
    assert (state.lineage, state.salt) == (LINEAGE, SALT)


@pytest.mark.parametrize(
    ("records", "entries", "intents"),
    [
        pytest.param([JournalRecord("intent", "a", intent("a"))], {}, {"a"}, id="intent-opens"),
        pytest.param(
            [JournalRecord("intent", "a", intent("a")), JournalRecord("entry", "a", entry("a"))],
            {"a": "MODEL_STATUS_INIT"},
            set(),
            id="entry-closes-its-intent",
        ),
        pytest.param(
            [JournalRecord("intent", "a", intent("a")), JournalRecord("entry", "b", entry("b"))],
            {"b": "MODEL_STATUS_INIT"},
            {"a"},
            id="entry-leaves-other-intents",
        ),
        pytest.param(
            [JournalRecord("entry", "a", entry("a")), JournalRecord("status", "a", "UP")],
            {"a": "UP"},
            set(),
            id="status-updates",
        ),
        pytest.param(
            [JournalRecord("status", "a", "UP")], {}, set(), id="status-of-unknown-ignored"
        ),
        pytest.param(
            [
                JournalRecord("entry", "a", entry("a")),
                JournalRecord("intent", "a", intent("a", 2)),
                JournalRecord("forget", "a"),
            ],
            {},
            set(),
            id="forget-drops-entry-and-intent",
        ),
        pytest.param(
            [JournalRecord("intent", "a", intent("a")), JournalRecord("close", "a")],
            {},
            set(),
            id="close-drops-intent",
        ),
        pytest.param([JournalRecord("close", "zz")], {}, set(), id="close-unknown-is-noop"),
    ],
)
def test_transitions(
    records: list[JournalRecord], entries: dict[str, str], intents: set[str]
) -> None:
    state = record.replay(base(), records)
    assert {name: e.status for name, e in state.entries.items()} == entries
    assert set(state.intents) == intents
    assert state.serial == 0  # only saving a changed state moves the serial


def test_transitions_do_not_mutate_their_input() -> None:
    before = record.record_entry(base(), entry("a"))
    snapshot = record.state_to_json(before)
    record.forget_entry(before, "a")
    record.record_status(before, "a", "UP")
    assert record.state_to_json(before) == snapshot


def test_same_content_ignores_only_the_serial() -> None:
    state = record.record_entry(base(), entry("a"))
    assert record.same_content(replace(state, serial=7), state)
    assert not record.same_content(record.record_status(state, "a", "UP"), state)


def test_state_json_round_trip_and_shape() -> None:
    state = record.record_intent(record.record_entry(base(), entry("b")), intent("a"))
    doc = record.state_to_json(state)
    assert doc["formatVersion"] == 1
    assert doc["generator"] == f"tensormesh-reconciler {record.__version__}"
    assert list(doc["entries"]) == ["b"]
    assert doc["entries"]["b"]["secrets"] == {
        "hfToken": {"ref": {"fromEnv": "HF_TOKEN"}, "fingerprint": None}
    }
    assert "deploymentId" not in doc["entries"]["b"]  # optional fields omitted, not null
    assert doc["intents"]["a"] == {"name": "a", "modelName": "a", "attempt": 1, "action": "create"}
    assert record.state_from_json(json.loads(json.dumps(doc))) == state


def test_journal_record_json_round_trip() -> None:
    for rec in (
        JournalRecord("intent", "a", intent("a")),
        JournalRecord("entry", "a", replace(entry("a"), deployment_id="d-1", user_id="u")),
        JournalRecord("status", "a", "MODEL_STATUS_UP"),
        JournalRecord("forget", "a"),
        JournalRecord("close", "a"),
    ):
        assert JournalRecord.from_json(json.loads(json.dumps(rec.to_json()))) == rec


@pytest.mark.parametrize(
    "raw",
    [
        {"op": "explode", "name": "a"},
        {"op": "intent", "name": "a"},
        {"op": "entry", "name": "a", "payload": {"name": "a"}},
        {"name": "a"},
    ],
)
def test_malformed_journal_record_raises_state_error(raw: dict[str, object]) -> None:
    with pytest.raises(StateError, match="journal record"):
        JournalRecord.from_json(raw)


def test_wrong_payload_is_refused() -> None:
    with pytest.raises(StateError, match="wrong payload"):
        record.apply_record(base(), JournalRecord("entry", "a", "not-an-entry"))


# -- property: the journal replays to exactly what was applied live ------------------

NAMES = st.sampled_from(["a", "b", "c"])
OPERATIONS = st.one_of(
    st.builds(lambda n, k: ("intent", n, intent(n, k)), NAMES, st.integers(0, 3)),
    st.builds(lambda n, m: ("entry", n, entry(n, m)), NAMES, st.sampled_from(["m-1", "m-2"])),
    st.builds(lambda n, s: ("status", n, s), NAMES, st.sampled_from(["INIT", "UP", "FAILED"])),
    st.builds(lambda n: ("forget", n, None), NAMES),
    st.builds(lambda n: ("close", n, None), NAMES),
)


def apply_live(state: State, op: str, name: str, payload: object) -> State:
    """The direct calls apply makes, as opposed to replaying journal records."""
    if op == "intent":
        assert isinstance(payload, Intent)
        return record.record_intent(state, payload)
    if op == "entry":
        assert isinstance(payload, RecordedEntry)
        return record.record_entry(state, payload)
    if op == "status":
        assert isinstance(payload, str)
        return record.record_status(state, name, payload)
    if op == "forget":
        return record.forget_entry(state, name)
    return record.close_intent(state, name)


@settings(max_examples=examples(150), deadline=None)
@given(st.lists(OPERATIONS, max_size=25))
def test_replaying_the_journal_equals_applying_live(
    ops: list[tuple[str, str, object]],
) -> None:
    live = base()
    lines: list[str] = []
    for op, name, payload in ops:
        live = apply_live(live, op, name, payload)
        rec = JournalRecord(op, name, payload)  # type: ignore[arg-type]
        lines.append(json.dumps(rec.to_json()))
    replayed = record.replay(base(), (JournalRecord.from_json(json.loads(x)) for x in lines))
    assert replayed == live
    # A crash between saving the state and removing the journal replays it twice: harmless.
    assert record.replay(replayed, (JournalRecord.from_json(json.loads(x)) for x in lines)) == live
    assert record.state_from_json(json.loads(json.dumps(record.state_to_json(live)))) == live
