"""apply_plan through an in-memory API and recorder: one deploy per entry, every ID
recorded, unclear outcomes resolved by a lookup by name."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import pytest

from reconciler.apply import ApplyContext, ApplyOptions, apply_plan, settle_orphan_intents
from reconciler.core import record
from reconciler.core.errors import (
    ApiRateLimitedError,
    ApiServerError,
    ApiTimeoutError,
    CircuitOpenError,
)
from reconciler.core.model import (
    Action,
    DeployRequest,
    Intent,
    RecordedEntry,
    SecretRef,
    SecretSource,
    State,
)
from reconciler.core.outcome import Outcome
from reconciler.core.ownership import Mark
from reconciler.core.plan import make_plan
from reconciler.session import UserIds
from tests.support.builders import SALT, desired, recorded, state
from tests.support.fake_api import USER, FakeApi


@dataclass
class MemoryRecorder:
    state: State
    log: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record_intent(self, intent: Intent) -> None:
        with self.lock:
            self.log.append(("intent", intent.name))
            self.state = record.record_intent(self.state, intent)

    def record_intents(self, intents: Sequence[Intent]) -> None:
        for intent in intents:
            self.record_intent(intent)

    def record_entry(self, entry: RecordedEntry) -> None:
        with self.lock:
            self.log.append(("entry", entry.name))
            self.state = record.record_entry(self.state, entry)

    def record_status(self, name: str, status: str) -> None:
        with self.lock:
            self.state = record.record_status(self.state, name, status)

    def record_failure(self, name: str, reason: str) -> None:
        with self.lock:
            self.log.append(("taint", name))
            self.state = record.record_failure(self.state, name, reason)

    def forget(self, name: str) -> None:
        with self.lock:
            self.log.append(("forget", name))
            self.state = record.forget_entry(self.state, name)

    def close_intent(self, name: str) -> None:
        with self.lock:
            self.log.append(("close", name))
            self.state = record.close_intent(self.state, name)

    def flush(self) -> None:
        with self.lock:
            self.log.append(("flush", ""))


def run(models, api, start=None, *, prune=False, secrets=None, wait=False, stop=None):
    start = start or state()
    recorder = MemoryRecorder(start)
    plan = make_plan(models, start, prune=prune)
    context = ApplyContext(
        api=api,
        recorder=recorder,
        users=UserIds(api, None),
        secrets=secrets or {},
        salt=SALT,
        attempts={n: i.attempt for n, i in start.intents.items()},
        stop=stop or threading.Event(),
        progress=lambda name, message: None,
        lineage=start.lineage,
        open_intents=dict(start.intents),
    )
    options = ApplyOptions(concurrency=4, wait=wait, wait_timeout=5, poll_interval=0.01)
    result = apply_plan(plan, context, options, sleep=lambda s: None)
    return result, recorder


def live_ids(api):
    return {
        m.model_name: m.model_id for m in api.models.values() if m.status != "MODEL_STATUS_DELETED"
    }


def test_creates_one_deploy_per_entry_and_records_every_id():
    api = FakeApi()
    result, recorder = run([desired("a"), desired("b"), desired("c")], api)
    assert len(api.deploy_calls) == 3
    assert not result.failed
    assert {n: e.model_id for n, e in recorder.state.entries.items()} == live_ids(api)
    assert recorder.state.intents == {}
    # The intent is durable before the deploy, the entry right after it.
    for name in "abc":
        assert recorder.log.index(("intent", name)) < recorder.log.index(("entry", name))
    assert api.whoami_calls == 1


def test_replace_deletes_then_deploys_and_records_new_id():
    api = FakeApi()
    _, first = run([desired("a")], api)
    old_id = first.state.entries["a"].model_id
    result, second = run([desired("a", gpuCount=2)], api, first.state)
    assert api.delete_calls == [old_id]
    new_id = second.state.entries["a"].model_id
    assert new_id != old_id and live_ids(api) == {"a": new_id}
    assert second.state.entries["a"].spec["gpuCount"] == 2
    assert [o.result for o in result.outcomes] == [Outcome.REPLACED]


def test_prune_deletes_and_forgets():
    api = FakeApi()
    _, first = run([desired("a"), desired("b")], api)
    result, kept = run([desired("a")], api, first.state)
    assert "b" in kept.state.entries and api.delete_calls == []
    assert {o.name: o.result for o in result.outcomes} == {
        "a": Outcome.UNCHANGED,
        "b": Outcome.SKIPPED,
    }
    _, pruned = run([desired("a")], api, first.state, prune=True)
    assert "b" not in pruned.state.entries
    assert live_ids(api).keys() == {"a"}


@pytest.mark.parametrize(
    "error",
    [
        ApiTimeoutError("POST /v1/models"),
        ApiServerError("POST /v1/models", status=502, request_id="req-1"),
    ],
)
def test_lost_create_response_is_adopted_by_name_without_second_deploy(error):
    api = FakeApi()
    api.script_deploy(error, committed=True)
    result, recorder = run([desired("a")], api)
    assert len(api.deploy_calls) == 1
    assert recorder.state.entries["a"].model_id == live_ids(api)["a"]
    assert not result.failed


def test_unclear_outcome_with_nothing_live_fails_and_keeps_intent_without_retry():
    api = FakeApi()
    api.script_deploy(
        ApiServerError("POST /v1/models", status=503, request_id="r-9"), committed=False
    )
    result, recorder = run([desired("a")], api)
    assert len(api.deploy_calls) == 1
    assert result.failed and result.outcomes[0].request_id == "r-9"
    assert "a" in recorder.state.intents and "a" not in recorder.state.entries


def test_conflicting_live_model_is_not_adopted():
    api = FakeApi()
    api.deploy_model(DeployRequest("a", USER, desired("a", gpuCount=8).spec))  # made by hand
    api.deploy_calls.clear()
    result, recorder = run([desired("a")], api)
    assert result.failed
    assert "model-1" in (result.outcomes[0].reason or "")
    assert "a" not in recorder.state.entries


def test_own_model_of_another_spec_is_not_adopted():
    # Another run of this state (same lineage) deployed the name with another gpuCount.
    api = FakeApi()
    mark = Mark(state().lineage, "0ther")
    api.deploy_model(DeployRequest("a", USER, desired("a", gpuCount=8).spec, mark=mark))
    api.deploy_calls.clear()
    result, recorder = run([desired("a")], api)
    assert result.failed and "gpuCount" in (result.outcomes[0].reason or "")
    assert "a" not in recorder.state.entries and not recorder.state.intents
    assert api.delete_calls == []


def test_rate_limited_create_is_retried_only_after_lookup():
    api = FakeApi()
    api.script_deploy(ApiRateLimitedError("POST /v1/models", status=429), committed=False)
    result, recorder = run([desired("a")], api)
    assert len(api.deploy_calls) == 2
    assert not result.failed and "a" in recorder.state.entries
    assert len(live_ids(api)) == 1


def test_resume_adopts_model_created_by_interrupted_run():
    api = FakeApi()
    _, first = run([desired("a")], api)
    # Simulate: the entry was never recorded, only its intent (crash after the deploy).
    crashed = state(intents={"a": Intent("a", "a", 1, Action.CREATE)})
    result, recorder = run([desired("a")], api, crashed)
    assert len(api.deploy_calls) == 1
    assert result.outcomes[0].result == Outcome.ADOPTED
    assert recorder.state.entries["a"].model_id == first.state.entries["a"].model_id


def test_one_failure_does_not_stop_others():
    api = FakeApi()
    api.script_deploy(ApiServerError("POST /v1/models", status=503), committed=False)
    result, recorder = run([desired("a")] + [desired(f"n{i}") for i in range(5)], api)
    failed = [o for o in result.outcomes if o.result == Outcome.FAILED]
    assert len(failed) == 1
    assert len(recorder.state.entries) == 5


def test_circuit_open_stops_new_entries():
    api = FakeApi()
    api.script_deploy(CircuitOpenError("POST /v1/models"), committed=False)
    models = [desired(f"n{i}") for i in range(20)]
    start = state()
    recorder = MemoryRecorder(start)
    context = ApplyContext(
        api,
        recorder,
        UserIds(api, USER),
        {},
        SALT,
        {},
        threading.Event(),
        lambda n, m: None,
        start.lineage,
    )
    result = apply_plan(
        make_plan(models, start, prune=False), context, ApplyOptions(concurrency=1, wait=False)
    )
    assert result.interrupted and result.failed
    assert {o.result for o in result.outcomes} >= {Outcome.FAILED, Outcome.NOT_STARTED}
    # Intents journaled ahead for entries never sent are closed: nothing to look up.
    not_started = {o.name for o in result.outcomes if o.result == Outcome.NOT_STARTED}
    assert not_started and not not_started & set(recorder.state.intents)
    assert all(("intent", name) in recorder.log for name in not_started)


def test_stop_before_start_runs_nothing():
    api = FakeApi()
    stop = threading.Event()
    stop.set()
    result, _ = run([desired("a")], api, stop=stop)
    assert api.deploy_calls == [] and result.outcomes[0].result == Outcome.NOT_STARTED
    assert result.failed


def test_secrets_are_sent_and_fingerprinted_not_stored():
    api = FakeApi()
    model = desired("a", secrets=(SecretRef("hfToken", SecretSource.FROM_ENV, "HF_TOKEN"),))
    _, recorder = run([model], api, secrets={"a": {"hfToken": "hf_super_secret"}})
    assert api.deploy_calls[0].body()["hfToken"] == "hf_super_secret"
    entry = recorder.state.entries["a"]
    assert entry.secrets["hfToken"].fingerprint.startswith("hmac-sha256:")
    assert "hf_super_secret" not in repr(recorder.state)
    assert "hf_super_secret" not in repr(api.deploy_calls[0])


def test_wait_polls_until_up_and_records_status():
    api = FakeApi(ready=False)
    calls = {"n": 0}
    original = api.list_models

    def list_models(user_id):
        calls["n"] += 1
        if calls["n"] == 2:
            from dataclasses import replace

            for mid, m in list(api.models.items()):
                api.models[mid] = replace(m, status="MODEL_STATUS_UP")
        return original(user_id)

    api.list_models = list_models  # a seam of the fake itself, not of our code
    result, recorder = run([desired("a"), desired("b")], api, wait=True)
    assert not result.failed
    assert {e.status for e in recorder.state.entries.values()} == {"MODEL_STATUS_UP"}
    assert calls["n"] == 2  # one list call per poll round, not one per entry


def test_wait_reports_failed_model():
    api = FakeApi(ready=False)
    original = api.list_models

    def list_models(user_id):
        from dataclasses import replace

        for mid, m in list(api.models.items()):
            api.models[mid] = replace(m, status="MODEL_STATUS_FAILED")
        return original(user_id)

    api.list_models = list_models
    result, recorder = run([desired("a")], api, wait=True)
    assert result.failed and "MODEL_STATUS_FAILED" in result.outcomes[0].reason
    assert recorder.state.entries["a"].status == "MODEL_STATUS_FAILED"


def test_noop_plan_makes_no_call():
    api = FakeApi()
    model = desired("a")
    result, _ = run([model], api, state(recorded(model, "m1")))
    assert api.deploy_calls == [] and api.whoami_calls == 0
    assert [o.result for o in result.outcomes] == [Outcome.UNCHANGED] and not result.failed
    assert Action.NOOP is result.outcomes[0].action


def test_entries_left_open_by_a_killed_run_share_one_list_call():
    # A killed apply leaves many intents open; each needs a lookup by name before anything
    # is sent, and one list of the user's models serves them all.
    api = FakeApi()
    models = [desired(f"n{i:02d}") for i in range(12)]
    _, first = run(models[:5], api)  # five were deployed and recorded ...
    intents = {m.name: Intent(m.name, m.name, 1, Action.CREATE) for m in models}
    start = replace(first.state, entries={}, intents=intents)  # ... but only intents survived
    api.list_calls = 0
    result, recorder = run(models, api, start)
    assert api.list_calls == 1
    assert len(api.deploy_calls) == 12  # 5 from the first run, 7 now: none twice
    assert {o.name: o.result for o in result.outcomes} == {
        **{m.name: Outcome.ADOPTED for m in models[:5]},
        **{m.name: Outcome.CREATED for m in models[5:]},
    }
    assert set(recorder.state.entries) == {m.name for m in models} and not recorder.state.intents


def test_orphan_intents_share_one_list_call():
    api = FakeApi()
    models = [desired(f"o{i}") for i in range(6)]
    _, first = run(models[:3], api)
    intents = {m.name: Intent(m.name, m.name, 1, Action.CREATE) for m in models}
    start = replace(first.state, entries={}, intents=intents)
    recorder = MemoryRecorder(start)
    api.list_calls = 0
    settle_orphan_intents(start, set(), api, recorder, UserIds(api, USER))
    assert api.list_calls == 1
    assert set(recorder.state.entries) == {m.name for m in models[:3]}  # found: recorded
    assert not recorder.state.intents  # not found: closed
    assert ("flush", "") in recorder.log
