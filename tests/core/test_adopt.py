"""adopted_entry: what `state import` records, so that a model identical to its manifest
plans as a no-op, and one that differs plans as a replace."""

from __future__ import annotations

from reconciler.core.adopt import adopted_entry
from reconciler.core.model import Action, LiveModel, SecretRef, SecretSource
from reconciler.core.plan import make_plan
from reconciler.core.spec import fingerprint_secret
from tests.support.builders import SALT, desired, state
from tests.support.fake_api import USER

HF = SecretRef("hfToken", SecretSource.FROM_ENV, "HF_TOKEN")


def live_of(model, **overrides):
    spec = {k: v for k, v in model.spec.items() if k != "kvCacheEnabled"}  # never returned
    return LiveModel("m-1", model.name, "MODEL_STATUS_UP", {**spec, **overrides}, user_id=USER)


def test_identical_model_with_secrets_plans_noop_and_says_assumed():
    model = desired("a", secrets=(HF,), kvCacheEnabled=True)
    prints = {"hfToken": fingerprint_secret(SALT, "hfToken", "v")}
    entry = adopted_entry("a", live_of(model), owner=USER, desired=model, fingerprints=prints)
    assert entry.secrets["hfToken"].assumed and entry.spec == model.spec
    plan = make_plan([model], state(entry), prune=False, fingerprints={"a": prints})
    assert [c.action for c in plan.changes] == [Action.NOOP]
    assert plan.changes[0].assumed_secrets == ("hfToken",)


def test_secret_value_unavailable_records_the_reference_and_still_plans_noop():
    model = desired("a", secrets=(HF,))
    entry = adopted_entry("a", live_of(model), owner=USER, desired=model, fingerprints={})
    assert entry.secrets["hfToken"].fingerprint is None
    assert make_plan([model], state(entry), prune=False).changes[0].action is Action.NOOP


def test_a_model_that_differs_records_the_live_spec_and_plans_replace():
    model = desired("a", secrets=(HF,))
    entry = adopted_entry("a", live_of(model, gpuCount=4), owner=USER, desired=model)
    assert entry.spec["gpuCount"] == 4 and not entry.secrets
    change = make_plan([model], state(entry), prune=False).changes[0]
    assert change.action is Action.REPLACE and "gpuCount" in change.field_names
