"""make_plan is pure: table tests of every action, secrets by fingerprint only."""

from __future__ import annotations

import pytest

from reconciler.core.model import Action, Intent, SecretRef, SecretSource
from reconciler.core.plan import make_plan
from reconciler.core.spec import fingerprint_secret
from tests.support.builders import SALT, desired, recorded, state

HF = SecretRef("hfToken", SecretSource.FROM_ENV, "HF_TOKEN")


def actions(plan):
    return {c.name: (c.action, c.skipped) for c in plan.changes}


def test_new_entry_is_created():
    plan = make_plan([desired("a")], state(), prune=False)
    assert actions(plan) == {"a": (Action.CREATE, False)}
    assert plan.summary() == {"create": 1, "replace": 0, "delete": 0, "noop": 0}
    assert plan.has_api_calls


def test_identical_entry_is_noop_and_makes_no_call():
    model = desired("a")
    plan = make_plan([model], state(recorded(model, "m1")), prune=False)
    assert actions(plan) == {"a": (Action.NOOP, False)}
    assert plan.changes[0].model_id == "m1"
    assert not plan.has_api_calls


def test_changed_gpu_count_is_replace_with_field():
    old, new = desired("a"), desired("a", gpuCount=2)
    plan = make_plan([new], state(recorded(old, "m1")), prune=False)
    change = plan.changes[0]
    assert change.action is Action.REPLACE
    assert change.field_names == ("gpuCount",)
    assert (change.fields[0].before, change.fields[0].after) == (1, 2)


def test_zero_values_do_not_count_as_change():
    old, new = desired("a"), desired("a", kvCacheEnabled=False, description="")
    plan = make_plan([new], state(recorded(old, "m1")), prune=False)
    assert actions(plan) == {"a": (Action.NOOP, False)}


@pytest.mark.parametrize(("prune", "skipped", "counted"), [(False, True, 0), (True, False, 1)])
def test_removed_entry_is_deleted_only_with_prune(prune, skipped, counted):
    plan = make_plan([], state(recorded(desired("gone"), "m9")), prune=prune)
    change = plan.changes[0]
    assert (change.action, change.skipped, change.model_id) == (Action.DELETE, skipped, "m9")
    assert plan.summary()["delete"] == counted
    assert plan.has_api_calls is prune
    assert (change.reason is not None) is skipped


def test_changes_are_sorted_by_name():
    plan = make_plan([desired("c"), desired("a"), desired("b")], state(), prune=False)
    assert [c.name for c in plan.changes] == ["a", "b", "c"]


def test_rotated_secret_is_replace_showing_field_name_only():
    model = desired("a", secrets=(HF,))
    entry = recorded(model, "m1", secret_values={"hfToken": "old-secret-value"})
    new_fp = {"a": {"hfToken": fingerprint_secret(SALT, "hfToken", "new-secret-value")}}
    plan = make_plan([model], state(entry), prune=False, fingerprints=new_fp)
    change = plan.changes[0]
    assert change.action is Action.REPLACE
    assert change.field_names == ("hfToken",)
    assert change.fields[0].secret
    assert "secret-value" not in repr(change.fields)


def test_same_secret_value_is_noop():
    model = desired("a", secrets=(HF,))
    entry = recorded(model, "m1", secret_values={"hfToken": "v"})
    same = {"a": {"hfToken": fingerprint_secret(SALT, "hfToken", "v")}}
    assert actions(make_plan([model], state(entry), prune=False, fingerprints=same)) == {
        "a": (Action.NOOP, False)
    }


def test_unavailable_secret_compares_references():
    model = desired("a", secrets=(HF,))
    entry = recorded(model, "m1", secret_values={"hfToken": "v"})
    unknown = {"a": {"hfToken": None}}
    assert make_plan([model], state(entry), prune=False, fingerprints=unknown).changes[
        0
    ].action is (Action.NOOP)
    moved = desired("a", secrets=(SecretRef("hfToken", SecretSource.FROM_ENV, "OTHER"),))
    change = make_plan([moved], state(entry), prune=False, fingerprints=unknown).changes[0]
    assert change.action is Action.REPLACE and change.field_names == ("hfToken",)


@pytest.mark.parametrize("added", [True, False])
def test_secret_added_or_removed_is_replace(added):
    with_secret = desired("a", secrets=(HF,))
    without = desired("a")
    before, after = (without, with_secret) if added else (with_secret, without)
    plan = make_plan([after], state(recorded(before, "m1")), prune=False)
    assert plan.changes[0].field_names == ("hfToken",)


def test_open_intent_marks_resume():
    model = desired("a")
    intent = Intent("a", "a", 1, Action.CREATE)
    plan = make_plan([model], state(intents={"a": intent}), prune=False)
    assert plan.changes[0].action is Action.CREATE and plan.changes[0].resume
