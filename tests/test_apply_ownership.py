"""Ownership at the apply seam: a model found by name is adopted, replaced or deleted only
when it carries this state's mark; a 409 is a definite answer; one entry's unexpected error
is that entry's failure."""

from __future__ import annotations

from dataclasses import replace

import pytest

from reconciler.apply import settle_orphan_intents
from reconciler.core.errors import ApiServerError, ApiTimeoutError
from reconciler.core.model import Action, DeployRequest, Intent, SecretRef, SecretSource
from reconciler.core.outcome import Outcome
from reconciler.core.ownership import Mark
from reconciler.core.plan import make_plan
from reconciler.core.render_json import plan_to_json
from reconciler.core.render_text import render_plan
from reconciler.core.spec import fingerprint_secret
from reconciler.session import UserIds
from tests.support.builders import SALT, desired, recorded, state
from tests.support.fake_api import USER, FakeApi
from tests.test_apply import MemoryRecorder, live_ids, run

LINEAGE = state().lineage
HF = SecretRef("hfToken", SecretSource.FROM_ENV, "HF_TOKEN")


def by_hand(api: FakeApi, name: str, *, mark: Mark | None = None, **spec: object) -> str:
    """A model made outside this state (no mark), or by another run of it (its mark)."""
    model = api.deploy_model(DeployRequest(name, USER, desired(name, **spec).spec, mark=mark))
    api.deploy_calls.clear()
    return model.model_id


def test_409_on_a_foreign_model_fails_closes_the_intent_and_records_nothing():
    api = FakeApi()
    foreign = by_hand(api, "team-c", gpuType="GPU_TYPE_H200", gpuCount=4)
    result, recorder = run([desired("team-c")], api)
    (outcome,) = result.outcomes
    assert outcome.result == Outcome.FAILED
    assert foreign in outcome.reason
    assert f"state import team-c {foreign}" in outcome.reason
    assert "another name" in outcome.reason
    assert not recorder.state.entries and not recorder.state.intents
    assert api.delete_calls == [] and live_ids(api) == {"team-c": foreign}


def test_later_runs_say_the_same_and_never_touch_the_foreign_model():
    api = FakeApi()
    foreign = by_hand(api, "team-c", gpuType="GPU_TYPE_H200", gpuCount=4)
    _, first = run([desired("team-c")], api)
    for _ in range(2):
        result, after = run([desired("team-c")], api, first.state)
        assert result.outcomes[0].result == Outcome.FAILED and foreign in result.outcomes[0].reason
        assert not after.state.entries and not after.state.intents
    # Renamed manifest, --prune: the foreign model is not the state's, so nothing to delete.
    result, after = run([desired("team-d")], api, first.state, prune=True)
    assert {o.name for o in result.outcomes} == {"team-d"}
    assert api.delete_calls == [] and live_ids(api)["team-c"] == foreign


def test_an_intent_left_open_by_an_older_version_does_not_delete_a_foreign_holder():
    # Reproduction 1 as older versions left it: the 409 kept the intent open, and the next
    # apply resumed it, called the foreign model its own and deleted it.
    api = FakeApi()
    foreign = by_hand(api, "team-c", gpuType="GPU_TYPE_H200", gpuCount=4)
    left = state(intents={"team-c": Intent("team-c", "team-c", 1, Action.CREATE)})
    result, after = run([desired("team-c")], api, left)
    assert result.outcomes[0].result == Outcome.FAILED and foreign in result.outcomes[0].reason
    assert api.delete_calls == [] and api.deploy_calls == []
    assert live_ids(api) == {"team-c": foreign}
    assert not after.state.entries and not after.state.intents


def test_an_orphan_intent_on_a_foreign_name_is_closed_not_recorded_so_prune_cannot_delete():
    api = FakeApi()
    by_hand(api, "team-c", gpuType="GPU_TYPE_H200", gpuCount=4)
    left = state(intents={"team-c": Intent("team-c", "team-c", 1, Action.CREATE, "n1")})
    recorder = MemoryRecorder(left)
    settle_orphan_intents(left, {"team-d"}, api, recorder, UserIds(api, USER))
    assert not recorder.state.entries and not recorder.state.intents
    plan = make_plan([desired("team-d")], recorder.state, prune=True)
    assert [c.action for c in plan.changes] == [Action.CREATE]


def test_an_orphan_intent_of_ours_is_recorded():
    api = FakeApi()
    ours = by_hand(api, "old", mark=Mark(LINEAGE, "n1"))
    left = state(intents={"old": Intent("old", "old", 1, Action.CREATE, "n1")})
    recorder = MemoryRecorder(left)
    settle_orphan_intents(left, set(), api, recorder, UserIds(api, USER))
    assert recorder.state.entries["old"].model_id == ours


def test_unclear_outcome_and_a_same_named_model_without_our_mark_is_not_adopted():
    api = FakeApi()
    foreign = by_hand(api, "a")  # same spec, but not made by this state
    api.script_deploy(ApiTimeoutError("POST /v1/models"), committed=False)
    result, recorder = run([desired("a")], api)
    assert result.outcomes[0].result == Outcome.FAILED and foreign in result.outcomes[0].reason
    assert not recorder.state.entries and not recorder.state.intents
    assert api.delete_calls == []


def test_unclear_outcome_and_a_model_of_another_lineage_is_not_adopted():
    api = FakeApi()
    by_hand(api, "a", mark=Mark("22222222-2222-4222-8222-222222222222", "n1"))
    api.script_deploy(ApiServerError("POST /v1/models", status=502), committed=False)
    result, recorder = run([desired("a")], api)
    assert result.outcomes[0].result == Outcome.FAILED and not recorder.state.entries


def test_unclear_outcome_and_a_model_with_our_nonce_is_adopted_as_this_runs_create():
    api = FakeApi()
    api.script_deploy(ApiServerError("POST /v1/models", status=502), committed=True)
    model = desired("a", secrets=(HF,))
    result, recorder = run([model], api, secrets={"a": {"hfToken": "v1"}})
    sent = api.deploy_calls[0]
    assert sent.mark is not None and sent.mark.lineage == LINEAGE
    assert "managed-by: tensormesh-reconciler " in sent.body()["description"]
    live = api.live_named("a")
    assert live is not None and live.mark == sent.mark
    assert "description" not in live.spec  # the mark is not the user's description
    (outcome,) = result.outcomes
    assert outcome.result == Outcome.CREATED  # this run's deploy, its answer lost
    entry = recorder.state.entries["a"]
    assert entry.model_id == live.model_id
    assert entry.secrets["hfToken"].fingerprint == fingerprint_secret(SALT, "hfToken", "v1")
    assert not entry.secrets["hfToken"].assumed
    assert len(api.deploy_calls) == 1


def test_409_on_a_model_another_run_of_this_state_created_is_adopted_not_created():
    api = FakeApi()
    theirs = by_hand(api, "a", mark=Mark(LINEAGE, "0ther"))
    result, recorder = run([desired("a", secrets=(HF,))], api, secrets={"a": {"hfToken": "v"}})
    (outcome,) = result.outcomes
    assert (outcome.result, outcome.model_id) == (Outcome.ADOPTED, theirs)
    entry = recorder.state.entries["a"]
    assert entry.secrets["hfToken"].assumed and not recorder.state.intents
    # The plan that follows is a no-op that says the secret was assumed.
    plan = make_plan(
        [desired("a", secrets=(HF,))],
        recorder.state,
        prune=False,
        fingerprints={"a": {"hfToken": fingerprint_secret(SALT, "hfToken", "v")}},
    )
    assert [c.action for c in plan.changes] == [Action.NOOP]
    assert "assumed, not verified" in render_plan(plan)
    assert plan_to_json(plan)["changes"][0]["secretsAssumed"] == ["hfToken"]


def test_a_user_description_survives_the_mark_and_does_not_drift():
    api = FakeApi()
    model = desired("a", description="line one\nline two\n")
    _, recorder = run([model], api)
    live = api.live_named("a")
    assert live is not None and live.spec["description"] == "line one\nline two\n"
    assert recorder.state.entries["a"].spec == model.spec
    again, _ = run([model], api, recorder.state)
    assert [o.result for o in again.outcomes] == [Outcome.UNCHANGED]


def test_resumed_intent_finding_our_model_of_an_older_spec_replaces_it():
    api = FakeApi()
    ours = by_hand(api, "a", mark=Mark(LINEAGE, "n1"), gpuCount=2)
    left = state(intents={"a": Intent("a", "a", 1, Action.CREATE, "n1")})
    result, recorder = run([desired("a")], api, left)
    assert api.delete_calls == [ours]
    assert recorder.state.entries["a"].model_id == live_ids(api)["a"] != ours
    assert result.outcomes[0].result == Outcome.CREATED


def test_open_intent_on_an_unchanged_entry_plans_as_a_lookup_not_a_replace():
    api = FakeApi()
    model = desired("a")
    _, first = run([model], api)
    entry = first.state.entries["a"]
    left = replace(first.state, intents={"a": Intent("a", "a", 1, Action.REPLACE, "n2")})
    plan = make_plan([model], left, prune=False)
    (change,) = plan.changes
    assert change.action is Action.NOOP and change.resume
    assert not plan.has_api_calls and plan.has_work
    assert "a (model model-1) will be looked up" in render_plan(plan)
    assert plan_to_json(plan)["changes"][0]["lookup"] is True
    result, after = run([model], api, left)
    assert [o.result for o in result.outcomes] == [Outcome.UNCHANGED]
    assert after.state.entries["a"] == entry and not after.state.intents
    assert len(api.deploy_calls) == 1 and api.delete_calls == []


def test_open_intent_on_an_unchanged_entry_whose_model_is_gone_deploys_again():
    api = FakeApi()
    model = desired("a")
    _, first = run([model], api)
    api.delete_model(USER, first.state.entries["a"].model_id)  # the interrupted replace's delete
    left = replace(first.state, intents={"a": Intent("a", "a", 1, Action.REPLACE, "n2")})
    result, after = run([model], api, left)
    assert [o.result for o in result.outcomes] == [Outcome.REPLACED]
    assert after.state.entries["a"].model_id == live_ids(api)["a"]


@pytest.mark.parametrize("exception", [RuntimeError("boom"), KeyError("modelId")])
def test_an_unexpected_error_fails_only_its_entry(exception):
    api = FakeApi()

    def explode(request: DeployRequest) -> None:
        if request.model_name == "bad":
            raise exception

    api.on_deploy = explode
    models = [desired("bad"), *(desired(f"ok{i}") for i in range(4))]
    result, recorder = run(models, api)
    outcomes = {o.name: o for o in result.outcomes}
    assert outcomes["bad"].result == Outcome.FAILED
    assert f"internal error: {type(exception).__name__}" in outcomes["bad"].reason
    assert "boom" not in outcomes["bad"].reason  # no message: it could carry request data
    assert {outcomes[f"ok{i}"].result for i in range(4)} == {Outcome.CREATED}
    assert set(recorder.state.entries) == {f"ok{i}" for i in range(4)}
    assert "bad" in recorder.state.intents  # unknown whether it was sent: looked up next time


def test_recorded_model_is_owned_by_its_id_without_a_mark():
    # Entries recorded (or imported) before marks existed stay ours: the ID is the proof.
    api = FakeApi()
    legacy = by_hand(api, "a")
    start = state(recorded(desired("a"), legacy))
    result, after = run([desired("a", gpuCount=2)], api, start)
    assert api.delete_calls == [legacy] and result.outcomes[0].result == Outcome.REPLACED
    assert after.state.entries["a"].model_id != legacy
