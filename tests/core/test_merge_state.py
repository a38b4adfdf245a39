"""The state merge (git's merge driver): table tests, one row per way two sides can differ."""

from __future__ import annotations

from dataclasses import replace

import pytest

from reconciler.core.merge_state import ConflictKind, merge_states, pick_revision
from reconciler.core.model import STATUS_INIT, Action, Intent, RecordedEntry, State
from tests.support.builders import desired, recorded, state

A1 = recorded(desired("alpha"), "m-a1")
A2 = recorded(desired("alpha", gpuCount=2), "m-a2")  # alpha replaced by a new model
A1_DOWN = replace(A1, status="MODEL_STATUS_FAILED")
A1_INIT = replace(A1, status=STATUS_INIT, deployment_id=None)
A1_OTHER_SPEC = replace(recorded(desired("alpha", gpuCount=4), "m-a1"))
B1 = recorded(desired("beta"), "m-b1")
C1 = recorded(desired("gamma"), "m-c1")
OPEN_A = Intent("alpha", "alpha", 1, Action.CREATE)
OPEN_A2 = Intent("alpha", "alpha", 2, Action.CREATE)
OPEN_G = Intent("gamma", "gamma", 1, Action.CREATE)


def make(*entries: RecordedEntry, serial: int = 1, intents: tuple[Intent, ...] = ()) -> State:
    return replace(state(*entries), serial=serial, intents={i.name: i for i in intents})


def names(result_state: State | None) -> dict[str, str]:
    assert result_state is not None
    return {name: entry.model_id for name, entry in result_state.entries.items()}


@pytest.mark.parametrize(
    ("base", "ours", "theirs", "expected"),
    [
        # disjoint additions: union by name
        (make(A1), make(A1, B1), make(A1, C1), {"alpha": "m-a1", "beta": "m-b1", "gamma": "m-c1"}),
        # no common ancestor file: both added the state
        (None, make(A1), make(B1), {"alpha": "m-a1", "beta": "m-b1"}),
        # one side pruned an entry, the other added one
        (make(A1, B1), make(B1), make(A1, B1, C1), {"beta": "m-b1", "gamma": "m-c1"}),
        # one side replaced alpha, the other left it alone
        (
            make(A1, B1),
            make(A2, B1),
            make(A1, B1, C1),
            {"alpha": "m-a2", "beta": "m-b1", "gamma": "m-c1"},
        ),
        # both made the same change
        (make(A1), make(A1, B1), make(A1, B1), {"alpha": "m-a1", "beta": "m-b1"}),
        # one removed alpha's model, the other recorded a new model for it: keep the live one
        (make(A1), make(), make(A2), {"alpha": "m-a2"}),
        (make(A1), make(A2), make(), {"alpha": "m-a2"}),
        # one removed alpha, the other only refreshed that same (removed) model
        (make(A1), make(), make(A1_DOWN), {}),
        # one model seen by both (created by one runner, adopted by the other): progress merges
        (None, make(A1_INIT), make(A1), {"alpha": "m-a1"}),
        (make(), make(A1), make(A1_INIT), {"alpha": "m-a1"}),
    ],
)
def test_merges(base, ours, theirs, expected) -> None:  # type: ignore[no-untyped-def]
    merged = merge_states(base, ours, theirs, revision=None)
    assert merged.conflicts == ()
    assert names(merged.state) == expected


A1_FAILED = replace(A1_INIT, failed="model became MODEL_STATUS_FAILED")


@pytest.mark.parametrize(
    ("base", "ours", "theirs", "failed"),
    [
        # only one side recorded the failure: its whole entry is taken
        (make(A1_INIT), make(A1_INIT), make(A1_FAILED), "model became MODEL_STATUS_FAILED"),
        (make(A1_INIT), make(A1_FAILED, B1), make(A1_INIT, C1), "model became MODEL_STATUS_FAILED"),
        # the same model seen by both, one saw its deploy fail: still remembered
        (None, make(A1_INIT), make(A1_FAILED), "model became MODEL_STATUS_FAILED"),
        (None, make(A1_FAILED), make(A1_INIT), "model became MODEL_STATUS_FAILED"),
        # ... unless the other side saw it UP after all
        (None, make(A1_FAILED), make(A1), None),
        (make(), make(A1), make(A1_FAILED), None),
    ],
)
def test_a_failed_deploy_is_carried_through_a_merge(base, ours, theirs, failed) -> None:  # type: ignore[no-untyped-def]
    merged = merge_states(base, ours, theirs, revision=None)
    assert merged.conflicts == () and merged.state is not None
    assert merged.state.entries["alpha"].failed == failed


def test_the_same_model_keeps_the_side_that_moved_past_init() -> None:
    merged = merge_states(make(), make(A1_INIT), make(A1), revision=None).state
    assert merged is not None
    assert merged.entries["alpha"] == A1


@pytest.mark.parametrize(
    ("base", "ours", "theirs", "kind", "name", "words"),
    [
        # both replaced alpha: two live models for one name, a human must choose
        (
            make(A1),
            make(A2),
            make(replace(A2, model_id="m-a3")),
            ConflictKind.ENTRY,
            "alpha",
            "m-a3",
        ),
        (None, make(A1), make(replace(A1, model_id="m-x")), ConflictKind.ENTRY, "alpha", "m-x"),
        # the same model, recorded with different specs
        (make(), make(A1), make(A1_OTHER_SPEC), ConflictKind.ENTRY, "alpha", "spec"),
        # the same model, failed on one side and up on the other
        (make(A1_INIT), make(A1), make(A1_DOWN), ConflictKind.ENTRY, "alpha", "status"),
        # two different open attempts for one name
        (
            make(),
            make(intents=(OPEN_A,)),
            make(intents=(OPEN_A2,)),
            ConflictKind.INTENT,
            "alpha",
            "attempts 1 and 2",
        ),
    ],
)
def test_conflicts_name_the_entry(base, ours, theirs, kind, name, words) -> None:  # type: ignore[no-untyped-def]
    merged = merge_states(base, ours, theirs, revision=None)
    assert merged.state is None
    assert [(c.kind, c.name) for c in merged.conflicts] == [(kind, name)]
    assert words in merged.conflicts[0].why


def test_only_the_conflicting_names_are_reported() -> None:
    merged = merge_states(
        make(A1), make(A2, B1), make(replace(A2, model_id="m-a3"), C1), revision=None
    )
    assert [c.name for c in merged.conflicts] == ["alpha"]


def test_serial_goes_past_both_sides() -> None:
    merged = merge_states(make(serial=3), make(B1, serial=4), make(C1, serial=9), revision=None)
    assert merged.state is not None
    assert merged.state.serial == 10


def test_different_lineages_never_merge() -> None:
    other = replace(make(B1), lineage="22222222-2222-4222-8222-222222222222")
    merged = merge_states(None, make(A1), other, revision=None)
    assert merged.state is None
    assert merged.conflicts[0].kind is ConflictKind.LINEAGE
    assert "state import" in merged.conflicts[0].why


def test_an_unrelated_base_counts_as_no_base() -> None:
    base = replace(make(A1), lineage="22222222-2222-4222-8222-222222222222")
    # With that base taken at its word, "ours removed alpha" would win; without it, a union.
    merged = merge_states(base, make(B1), make(A1), revision=None)
    assert names(merged.state) == {"alpha": "m-a1", "beta": "m-b1"}


@pytest.mark.parametrize(
    ("base", "ours", "theirs", "expected"),
    [
        # one side opened an attempt, the other did nothing
        ((), (OPEN_G,), (), {"gamma"}),
        # one side closed it, the other left it alone
        ((OPEN_A,), (), (OPEN_A,), set()),
        # one side closed attempt 1, the other opened attempt 2: still unknown, stays open
        ((OPEN_A,), (), (OPEN_A2,), {"alpha"}),
        # union of attempts on different names
        ((), (OPEN_A,), (OPEN_G,), {"alpha", "gamma"}),
    ],
)
def test_intents(base, ours, theirs, expected) -> None:  # type: ignore[no-untyped-def]
    merged = merge_states(
        make(intents=base), make(intents=ours), make(intents=theirs), revision=None
    )
    assert merged.state is not None
    assert set(merged.state.intents) == expected


def test_the_revision_is_the_one_given() -> None:
    merged = merge_states(make(), make(A1), make(B1), revision="c" * 40)
    assert merged.state is not None
    assert merged.state.revision == "c" * 40


@pytest.mark.parametrize(
    ("ours", "theirs", "ancestry", "expected"),
    [
        (None, None, set(), None),
        ("a", None, set(), "a"),
        (None, "b", set(), "b"),
        ("a", "a", set(), "a"),
        ("a", "b", {("a", "b")}, "b"),  # theirs contains ours
        ("a", "b", {("b", "a")}, "a"),  # ours contains theirs
        ("a", "b", set(), "a"),  # diverged: ours
    ],
)
def test_pick_revision(ours, theirs, ancestry, expected) -> None:  # type: ignore[no-untyped-def]
    assert pick_revision(ours, theirs, is_ancestor=lambda x, y: (x, y) in ancestry) == expected
