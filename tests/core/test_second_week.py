"""Table tests of the second week's pure parts: taint, --replace, selection, guard rails,
the plan's legend and costs, the desired spec in plan JSON."""

from __future__ import annotations

from dataclasses import replace

import pytest

from reconciler.core import record
from reconciler.core.errors import UsageError
from reconciler.core.guard import refuse_plan
from reconciler.core.model import (
    STATUS_UP,
    Action,
    ActionReason,
    Change,
    DriftKind,
    Plan,
    ReconcilePolicy,
    SecretRef,
    SecretSource,
)
from reconciler.core.plan import make_plan, unknown_names
from reconciler.core.record import JournalRecord
from reconciler.core.render_json import plan_to_json
from reconciler.core.render_text import LEGEND, render_destructive, render_plan
from reconciler.core.selection import Selection, parse_selection
from tests.support.builders import desired, recorded, state

LLAMA = desired("llama")
QWEN = replace(desired("qwen", gpuCount=2), labels={"team": "search"})
ENTRY = recorded(LLAMA, "m-1")


# -- failed is remembered (taint) ---------------------------------------------


def test_a_failed_deploy_plans_as_replace_with_the_reason() -> None:
    failed = record.record_failure(state(ENTRY), "llama", "model became MODEL_STATUS_FAILED")
    (change,) = make_plan([LLAMA], failed, prune=False).changes
    assert change.action is Action.REPLACE and change.fields == ()
    assert change.reason is ActionReason.TAINTED
    assert change.reason_text == "last deploy failed: model became MODEL_STATUS_FAILED"
    assert plan_to_json(Plan((change,)))["changes"][0]["reason"] == change.reason_text
    assert make_plan([LLAMA], failed, prune=False).has_api_calls


def test_a_model_seen_up_is_no_longer_failed_and_a_new_entry_clears_it() -> None:
    failed = record.record_failure(state(ENTRY), "llama", "not UP within 5s")
    assert record.record_status(failed, "llama", STATUS_UP).entries["llama"].failed is None
    assert record.record_status(failed, "llama", "MODEL_STATUS_INIT").entries["llama"].failed
    assert record.record_entry(failed, ENTRY).entries["llama"].failed is None


def test_taint_survives_the_file_and_the_journal() -> None:
    failed = record.record_failure(state(ENTRY), "llama", "boom")
    again = record.state_from_json(record.state_to_json(failed))
    assert again.entries["llama"].failed == "boom"
    line = JournalRecord("taint", "llama", "boom").to_json()
    assert record.replay(state(ENTRY), [JournalRecord.from_json(line)]) == failed
    # Files written before the field existed read as not failed.
    old = record.state_to_json(state(ENTRY))
    assert "lastDeployFailed" not in old["entries"]["llama"]
    assert record.state_from_json(old).entries["llama"].failed is None


def test_replace_forces_a_healthy_entry_and_names_must_exist() -> None:
    (change,) = make_plan([LLAMA], state(ENTRY), prune=False, force_replace={"llama"}).changes
    assert (change.action, change.reason) == (Action.REPLACE, ActionReason.REPLACE_BY_REQUEST)
    assert unknown_names([LLAMA], state(ENTRY), ["llama", "lama"]) == ["lama"]


# -- selection -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("selection", "expected"),
    [
        (Selection(), ["llama", "qwen"]),
        (Selection(targets=("ll*",)), ["llama"]),
        (Selection(excludes=("q*",)), ["llama"]),
        (Selection(labels=(("team", "search"),)), ["qwen"]),
        (Selection(labels=(("team", "search"), ("tier", "prod"))), []),
        (Selection(targets=("*",), excludes=("llama",)), ["qwen"]),
    ],
)
def test_selection_leaves_entries_out_and_counts_them(
    selection: Selection, expected: list[str]
) -> None:
    plan = make_plan([LLAMA, QWEN], state(), prune=False, selection=selection)
    assert [c.name for c in plan.changes] == expected
    assert plan.excluded == 2 - len(expected)
    assert plan_to_json(plan)["excluded"] == plan.excluded


def test_an_excluded_removed_entry_is_not_pruned() -> None:
    plan = make_plan([], state(ENTRY), prune=True, selection=Selection(excludes=("llama",)))
    assert plan.changes == () and plan.excluded == 1
    # A selector needs labels: a removed entry has none, so it is left out, never pruned.
    plan = make_plan([], state(ENTRY), prune=True, selection=Selection(labels=(("a", "b"),)))
    assert plan.changes == ()


def test_selector_needs_key_value() -> None:
    assert parse_selection([], [], ["team=search"]).labels == (("team", "search"),)
    with pytest.raises(UsageError, match="KEY=VALUE"):
        parse_selection([], [], ["team"])


# -- guard rails ---------------------------------------------------------------


def _replace(name: str, drift: DriftKind | None = None) -> Change:
    return Change(name, Action.REPLACE, model_id="m", drift=drift, desired=desired(name))


def test_max_destroy_counts_deletes_and_replaces_but_not_recreating_a_missing_model() -> None:
    plan = Plan(
        (
            _replace("a"),
            Change("b", Action.DELETE, model_id="m"),
            # kept: no --prune
            Change("c", Action.DELETE, model_id="m", reason=ActionReason.PRUNE_NOT_GIVEN),
            _replace("d", drift=DriftKind.MISSING),  # already gone: deletes nothing running
            Change("e", Action.CREATE),
        )
    )
    assert [c.name for c in plan.destructive] == ["a", "b"]
    assert refuse_plan(plan, [], max_destroy=2) is None
    refusal = refuse_plan(plan, [], max_destroy=1)
    assert refusal is not None and "--max-destroy 1" in refusal and "a, b" in refusal
    assert "Nothing was called" in refusal


def test_protect_refuses_naming_the_entry() -> None:
    protected = replace(LLAMA, policy=ReconcilePolicy(protect=True))
    plan = Plan((_replace("llama"),))
    refusal = refuse_plan(plan, [protected], max_destroy=None)
    assert refusal is not None and "llama (replace)" in refusal and "protect" in refusal
    assert refuse_plan(plan, [LLAMA], max_destroy=None) is None  # the line removed: lifted


# -- the plan explains itself --------------------------------------------------


def test_replace_says_what_forces_it_and_what_it_costs() -> None:
    bigger = desired("llama", gpuCount=2)
    text = render_plan(make_plan([bigger], state(ENTRY), prune=False))
    assert "forces replacement: gpuCount" in text
    assert "downtime" in text and "new model ID, endpoint and apiKey" in text
    assert LEGEND in text
    assert "forces replacement" in render_destructive(
        make_plan([bigger], state(ENTRY), prune=False)
    )


def test_kept_entries_are_not_followed_by_no_changes() -> None:
    text = render_plan(make_plan([], state(ENTRY), prune=False))
    assert "kept because --prune was not given" in text
    assert "No changes" not in text
    assert "give --prune to delete" in text


def test_plan_json_carries_the_desired_spec_with_secret_references_only() -> None:
    ref = SecretRef("hfToken", SecretSource.FROM_ENV, "HF_TOKEN")
    model = desired("llama", secrets=(ref,), gpuCount=2)
    doc = plan_to_json(make_plan([model], state(ENTRY), prune=False))
    (change,) = doc["changes"]
    assert change["desired"]["hfToken"] == {"fromEnv": "HF_TOKEN"}
    assert change["desired"]["modelName"] == "llama"
    assert change["desired"]["gpuCount"] == 2
    noop = plan_to_json(make_plan([LLAMA], state(ENTRY), prune=False))["changes"][0]
    assert "desired" not in noop
