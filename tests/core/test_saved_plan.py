"""Saved plans: lossless round trip, byte-stable documents, staleness, refusals."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from reconciler.core import record, saved_plan
from reconciler.core.errors import PlanFileError
from reconciler.core.model import Action, ActionReason, DriftKind, Intent, SecretRef, SecretSource
from reconciler.core.plan import make_plan
from reconciler.core.saved_plan import SavedPlan
from tests.support import builders

HF = SecretRef("hfToken", SecretSource.FROM_FILE, "hf.txt", base_dir="/repo/manifests")
DIGEST = "sha256:" + "0" * 64


def _saved(**state_kwargs: object) -> tuple[SavedPlan, object]:
    kept = builders.desired("kept")
    changed = builders.desired("changed", secrets=(HF,))
    gone = builders.desired("gone")
    state = builders.state(
        builders.recorded(kept, "m-kept"),
        builders.recorded(changed, "m-changed", secret_values={"hfToken": "v1"}),
        builders.recorded(gone, "m-gone"),
        **state_kwargs,  # type: ignore[arg-type]
    )
    wanted = [kept, builders.desired("changed", secrets=(HF,), gpuCount=2), builders.desired("new")]
    plan = make_plan(wanted, state, prune=True)
    return saved_plan.make_saved_plan(plan, state, manifests_digest=DIGEST, prune=True), state


def _roundtrip(saved: SavedPlan) -> SavedPlan:
    text = json.dumps(saved_plan.saved_plan_to_json(saved), sort_keys=True)
    return saved_plan.saved_plan_from_json(json.loads(text), source="p.json")


def test_round_trip_keeps_every_change_desired_spec_and_recorded_entry() -> None:
    saved, _ = _saved()
    back = _roundtrip(saved)
    assert back == saved
    actions = {c.name: c.action.value for c in back.plan.changes}
    assert actions == {"changed": "replace", "gone": "delete", "kept": "noop", "new": "create"}
    changed = next(c for c in back.plan.changes if c.name == "changed")
    assert changed.desired is not None and changed.desired.secrets == (HF,)
    assert changed.recorded is not None and changed.recorded.model_id == "m-changed"


def test_document_is_byte_stable_and_holds_references_not_values() -> None:
    first = json.dumps(saved_plan.saved_plan_to_json(_saved()[0]), sort_keys=True)
    second = json.dumps(saved_plan.saved_plan_to_json(_saved()[0]), sort_keys=True)
    assert first == second
    document = json.loads(first)
    assert document["kind"] == saved_plan.KIND
    assert document["state"] == {"lineage": builders.state().lineage, "serial": 1}
    assert document["summary"] == {"create": 1, "replace": 1, "delete": 1, "noop": 1}
    changed = next(c for c in document["changes"] if c["name"] == "changed")
    assert changed["desired"]["secrets"] == [
        {"field": "hfToken", "source": "fromFile", "target": "hf.txt", "baseDir": "/repo/manifests"}
    ]
    assert '"v1"' not in first


@pytest.mark.parametrize(
    ("change_state", "expected"),
    [
        (lambda s, e: s, ()),
        (lambda s, e: replace(s, serial=2), ()),
        (lambda s, e: replace(s, entries={**s.entries, "new": replace(e, name="new")}), ("new",)),
        (
            lambda s, e: replace(s, entries={k: v for k, v in s.entries.items() if k != "gone"}),
            ("gone",),
        ),
        (
            lambda s, e: replace(s, entries={**s.entries, "kept": replace(e, model_id="m-other")}),
            ("kept",),
        ),
        (
            lambda s, e: replace(s, intents={"new": Intent("new", "new", 1, Action.CREATE)}),
            ("new",),
        ),
    ],
    ids=[
        "same",
        "serial-only",
        "create-target-now-recorded",
        "delete-target-gone",
        "noop-entry-changed",
        "open-intent",
    ],
)
def test_stale_entries_names_what_moved(change_state, expected) -> None:  # type: ignore[no-untyped-def]
    saved, state = _saved()
    entry = state.entries["kept"]  # type: ignore[attr-defined]
    assert saved_plan.stale_entries(saved, change_state(state, entry)) == expected


@pytest.mark.parametrize(
    ("change_state", "fresh"),
    [
        (lambda s: replace(s, serial=2), False),
        (lambda s: replace(s, lineage="22222222-2222-4222-8222-222222222222"), False),
        (lambda s: s, True),
    ],
    ids=["serial-moved", "other-lineage", "unchanged"],
)
def test_describe_staleness(change_state, fresh) -> None:  # type: ignore[no-untyped-def]
    saved, state = _saved()
    why = saved_plan.describe_staleness(saved, change_state(state))
    assert (why is None) is fresh
    if why is not None:
        assert "serial 1 of lineage" in why


def test_plan_made_before_any_state_file_fits_a_still_missing_state() -> None:
    fresh = replace(builders.state(), serial=0)
    plan = make_plan([builders.desired("new")], fresh, prune=False)
    saved = saved_plan.make_saved_plan(plan, fresh, manifests_digest=DIGEST, prune=False)
    assert saved.lineage is None
    # Another read of a missing file makes another throwaway lineage: still the same state.
    other = replace(fresh, lineage="33333333-3333-4333-8333-333333333333")
    assert saved_plan.describe_staleness(saved, other) is None
    assert "no state file" in str(saved_plan.describe_staleness(saved, replace(other, serial=1)))


@pytest.mark.parametrize(
    ("document", "words"),
    [
        ({"changes": []}, "not a tensormesh-reconciler plan file"),
        ([1, 2], "not a tensormesh-reconciler plan file"),
        ({"kind": saved_plan.KIND, "formatVersion": 9, "toolVersion": "9.0"}, "newer"),
        ({"kind": saved_plan.KIND, "formatVersion": "1"}, "no valid formatVersion"),
    ],
)
def test_check_header_refuses_foreign_and_future_documents(document: object, words: str) -> None:
    with pytest.raises(PlanFileError, match=words):
        saved_plan.check_header(document, source="p.json")


def test_edited_spec_is_refused() -> None:
    document = saved_plan.saved_plan_to_json(_saved()[0])
    created = next(c for c in document["changes"] if c["action"] == "create")
    created["desired"]["spec"]["gpuCount"] = 8
    with pytest.raises(PlanFileError, match="was edited"):
        saved_plan.saved_plan_from_json(document, source="p.json")


def _with_every_reason() -> SavedPlan:
    """One change per ActionReason, and one carrying a drift."""
    names = ("failed", "forced", "drifted", "gone")
    state = builders.state(*(builders.recorded(builders.desired(n), f"m-{n}") for n in names))
    state = record.record_failure(state, "failed", "model became MODEL_STATUS_FAILED")
    wanted = [builders.desired(n) for n in names[:3]]
    plan = make_plan(wanted, state, prune=False, force_replace={"forced"})
    drifted = tuple(
        replace(c, action=Action.REPLACE, drift=DriftKind.MISSING) if c.name == "drifted" else c
        for c in plan.changes
    )
    plan = replace(plan, changes=drifted)
    return saved_plan.make_saved_plan(plan, state, manifests_digest=DIGEST, prune=False)


def test_reasons_and_drift_round_trip_as_the_words_plans_show() -> None:
    saved = _with_every_reason()
    document = saved_plan.saved_plan_to_json(saved)
    words = {c["name"]: (c.get("reason"), c.get("drift")) for c in document["changes"]}
    assert words == {
        "drifted": (None, "missing"),
        "failed": ("last deploy failed: model became MODEL_STATUS_FAILED", None),
        "forced": ("forced by --replace", None),
        "gone": ("removed from the manifests; kept because --prune was not given", None),
    }
    back = _roundtrip(saved)
    assert back == saved
    reasons = {c.name: c.reason for c in back.plan.changes}
    assert reasons["failed"] is ActionReason.TAINTED and reasons["drifted"] is None
    assert [c.name for c in back.plan.changes if c.skipped] == ["gone"]


@pytest.mark.parametrize(
    ("name", "edit"),
    [
        ("forced", {"reason": "forced by hand"}),
        ("drifted", {"drift": "vanished"}),
        ("forced", {"skipped": True}),  # only a delete kept without --prune is skipped
    ],
)
def test_an_edited_reason_drift_or_skip_is_refused(name: str, edit: dict[str, object]) -> None:
    document = saved_plan.saved_plan_to_json(_with_every_reason())
    next(c for c in document["changes"] if c["name"] == name).update(edit)
    with pytest.raises(PlanFileError, match="malformed"):
        saved_plan.saved_plan_from_json(document, source="p.json")


def test_entries_left_out_by_a_selection_do_not_make_the_plan_stale() -> None:
    from reconciler.core.selection import Selection

    kept, other = builders.desired("kept"), builders.desired("other")
    state = builders.state(builders.recorded(kept, "m-kept"), builders.recorded(other, "m-o"))
    plan = make_plan(
        [builders.desired("kept", gpuCount=2), other],
        state,
        prune=False,
        selection=Selection(targets=("kept",)),
    )
    saved = _roundtrip(
        saved_plan.make_saved_plan(plan, state, manifests_digest=DIGEST, prune=False)
    )
    assert saved.plan.left_out == ("other",)
    assert saved_plan.describe_staleness(saved, state) is None
    # A plan that did include it is stale when it moved.
    moved = replace(state, entries={**state.entries, "other": builders.recorded(other, "m-2")})
    assert saved_plan.stale_entries(saved, moved) == ()
    whole = saved_plan.make_saved_plan(
        make_plan([kept, other], state, prune=False), state, manifests_digest=DIGEST, prune=False
    )
    assert saved_plan.stale_entries(whole, moved) == ("other",)
