"""Apply at the port seam: failed deploys remembered, definite refusals close intents."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

from reconciler.core.errors import (
    ApiAuthError,
    ApiInvalidError,
    ApiTimeoutError,
    ApiUnreachableError,
)
from reconciler.core.model import Action, Intent, LiveModel
from reconciler.core.outcome import Outcome
from reconciler.core.plan import make_plan
from tests.support.builders import desired, recorded, state
from tests.support.fake_api import FakeApi
from tests.test_apply import run


@dataclass
class FailingApi(FakeApi):
    """Every model it lists has failed to start."""

    def list_models(self, user_id: str) -> list[LiveModel]:
        return [replace(m, status="MODEL_STATUS_FAILED") for m in super().list_models(user_id)]


def test_a_deploy_that_fails_is_remembered_and_the_next_plan_replaces_it() -> None:
    api = FailingApi(ready=False)
    result, recorder = run([desired("a")], api, wait=True)
    assert result.outcomes[0].result == Outcome.FAILED
    entry = recorder.state.entries["a"]
    assert entry.failed is not None and "MODEL_STATUS_FAILED" in entry.failed
    (change,) = make_plan([desired("a")], recorder.state, prune=False).changes
    assert change.action is Action.REPLACE and "last deploy failed" in (change.reason_text or "")


def test_a_deploy_not_up_in_time_is_remembered() -> None:
    api = FakeApi(ready=False)
    result, recorder = run([desired("a")], api, wait=True)
    assert "not MODEL_STATUS_UP within" in (result.outcomes[0].reason or "")
    assert recorder.state.entries["a"].failed is not None
    # The replace that follows clears it.
    result, after = run([desired("a")], FakeApi(models=api.models), recorder.state)
    assert result.outcomes[0].result == Outcome.REPLACED
    assert after.state.entries["a"].failed is None


def test_a_400_on_create_closes_the_intent() -> None:
    api = FakeApi()
    api.script_deploy(ApiInvalidError("POST /v1/models", status=400), committed=False)
    result, recorder = run([desired("a")], api)
    assert result.outcomes[0].result == Outcome.FAILED
    assert recorder.state.intents == {} and recorder.state.entries == {}
    assert ("close", "a") in recorder.log


def test_connection_refused_before_sending_closes_the_intent() -> None:
    api = FakeApi()
    api.script_deploy(ApiUnreachableError("POST /v1/models", detail="refused"), committed=False)
    _, recorder = run([desired("a")], api)
    assert recorder.state.intents == {}


def test_an_unclear_timeout_keeps_the_intent_open_for_a_lookup() -> None:
    api = FakeApi()
    api.script_deploy(ApiTimeoutError("POST /v1/models", detail="no answer"), committed=False)
    _, recorder = run([desired("a")], api)
    assert "a" in recorder.state.intents


def test_a_refused_replace_forgets_the_deleted_model_so_the_next_plan_creates() -> None:
    """Old model deleted, new deploy refused (401): no phantom noop, no destructive -/+."""
    api = FakeApi()
    _, first = run([desired("a")], api)
    api.script_deploy(ApiAuthError("POST /v1/models", status=401), committed=False)
    result, recorder = run([desired("a", gpuCount=2)], api, first.state)
    assert result.outcomes[0].result == Outcome.FAILED
    assert "no longer recorded" in (result.outcomes[0].reason or "")
    assert recorder.state.entries == {} and recorder.state.intents == {}
    (change,) = make_plan([desired("a")], recorder.state, prune=False).changes
    assert change.action is Action.CREATE


def test_a_recorded_entry_with_a_reverted_manifest_and_an_open_intent_is_a_lookup() -> None:
    entry = recorded(desired("a"), "m-1")
    left = state(entry, intents={"a": Intent("a", "a", 1, Action.REPLACE, "n1")})
    plan = make_plan([desired("a")], left, prune=False)
    assert not plan.has_api_calls and plan.destructive == () and len(plan.lookups) == 1


def test_a_heartbeat_at_least_every_60_seconds_while_waiting_for_up() -> None:
    import threading

    from reconciler.apply import ApplyContext, ApplyOptions, apply_plan
    from reconciler.session import UserIds
    from tests.support.builders import SALT
    from tests.test_apply import MemoryRecorder

    api = FakeApi(ready=False)
    start = state()
    beats: list[tuple[float, str]] = []
    now = [0.0]

    def clock() -> float:
        return now[0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    context = ApplyContext(
        api=api,
        recorder=MemoryRecorder(start),
        users=UserIds(api, None),
        secrets={},
        salt=SALT,
        attempts={},
        stop=threading.Event(),
        progress=lambda name, message: None,
        lineage=start.lineage,
        heartbeat=lambda message: beats.append((now[0], message)),
    )
    options = ApplyOptions(wait=True, wait_timeout=600)
    result = apply_plan(
        make_plan([desired("a")], start, prune=False), context, options, sleep=sleep, clock=clock
    )
    assert result.outcomes[0].result == Outcome.FAILED  # never UP: the wait gave up at 600 s
    times = [0.0, *(at for at, _ in beats), 600.0]
    assert len(beats) >= 9
    assert max(b - a for a, b in itertools.pairwise(times)) <= 60
    assert "still waiting for 1 model(s) to be MODEL_STATUS_UP" in beats[0][1]
    assert "a" in beats[0][1]
