"""Stateful property test of plan + apply + journal replay, without processes.

Hypothesis edits the manifests and scripts faults (lost responses, 503s, 429s, crashes
that abandon memory and reload the state from the journal records written so far); the
invariants are checked after every apply. Plus example tests of resume holes found by it.
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from reconciler.apply import (
    ApplyContext,
    ApplyOptions,
    apply_plan,
    settle_orphan_intents,
)
from reconciler.core import plan as planning
from reconciler.core import record
from reconciler.core.errors import ApiRateLimitedError, ApiServerError
from reconciler.core.model import (
    DeployRequest,
    DesiredModel,
    LiveModel,
    SecretRef,
    SecretSource,
    State,
)
from reconciler.core.record import JournalRecord
from reconciler.core.spec import fingerprint_secret
from reconciler.session import UserIds
from tests.support.builders import SALT, desired
from tests.support.examples import examples
from tests.support.fake_api import USER, FakeApi

NAMES = ("m-a", "m-b", "m-c", "m-d", "m-e")
FAULTS = ("ok", "lost", "refused-503", "rate-limited", "crash-before", "crash-after")
HF = SecretRef("hfToken", SecretSource.FROM_ENV, "HF_TOKEN")


class Crash(BaseException):
    """The process died: nothing after this is sent or written."""


class DyingApi:
    """The fake control plane seen through a process that may die mid-deploy."""

    def __init__(self, inner: FakeApi, faults: list[str]) -> None:
        self.inner, self.faults, self.dead = inner, faults, False

    def _alive(self) -> None:
        if self.dead:
            raise Crash

    def whoami(self) -> str:
        return self.inner.whoami()

    def list_models(self, user_id: str) -> list[LiveModel]:
        self._alive()
        return self.inner.list_models(user_id)

    def get_model(self, user_id: str, model_id: str) -> LiveModel:
        self._alive()
        return self.inner.get_model(user_id, model_id)

    def find_model_by_name(self, user_id: str, model_name: str) -> LiveModel | None:
        self._alive()
        return self.inner.find_model_by_name(user_id, model_name)

    def delete_model(self, user_id: str, model_id: str) -> None:
        self._alive()
        self.inner.delete_model(user_id, model_id)

    def deployment_logs(self, user_id: str, deployment_id: str, *, limit: int) -> tuple[str, ...]:
        self._alive()
        return self.inner.deployment_logs(user_id, deployment_id, limit=limit)

    def deploy_model(self, request: DeployRequest) -> LiveModel:
        self._alive()
        fault = self.faults.pop(0) if self.faults else "ok"
        if fault == "crash-before":
            self.dead = True
            raise Crash
        if fault == "lost":
            self.inner.script_deploy(ApiServerError("POST /v1/models", status=502), committed=True)
        elif fault == "refused-503":
            self.inner.script_deploy(ApiServerError("POST /v1/models", status=503), committed=False)
        elif fault == "rate-limited":
            self.inner.script_deploy(
                ApiRateLimitedError("POST /v1/models", status=429), committed=False
            )
        model = self.inner.deploy_model(request)
        if fault == "crash-after":
            self.dead = True  # committed on the server, the answer never recorded
            raise Crash
        return model


class JournalRecorder:
    """Appends records to a list (the journal on disk); refuses writes once dead.

    Like the state store, entry records are not waited for: they reach the list only with
    the next waited record or flush, and a crash before that loses them (a power cut
    after the write, before any fsync), which the open intent must make harmless.
    """

    def __init__(self, api: DyingApi, records: list[JournalRecord]) -> None:
        self.api, self.records = api, records
        self.pending: list[JournalRecord] = []
        self.lock = threading.Lock()

    def _write(self, rec: JournalRecord | None, *, wait: bool = True) -> None:
        if self.api.dead:
            raise Crash
        with self.lock:
            if rec is not None and not wait:
                self.pending.append(rec)
                return
            self.records.extend(self.pending)  # one fsync covers every line written
            self.pending.clear()
            if rec is not None:
                self.records.append(rec)

    def record_intent(self, intent: Any) -> None:
        self._write(JournalRecord("intent", intent.name, intent))

    def record_intents(self, intents: Any) -> None:
        if self.api.dead:
            raise Crash
        with self.lock:  # one write, one fsync: all of them or (crashed before) none
            self.records.extend(self.pending)
            self.pending.clear()
            self.records.extend(JournalRecord("intent", i.name, i) for i in intents)

    def record_entry(self, entry: Any) -> None:
        self._write(JournalRecord("entry", entry.name, entry), wait=False)

    def record_status(self, name: str, status: str) -> None:
        self._write(JournalRecord("status", name, status))

    def record_failure(self, name: str, reason: str) -> None:
        self._write(JournalRecord("taint", name, reason))

    def forget(self, name: str) -> None:
        self._write(JournalRecord("forget", name))

    def close_intent(self, name: str) -> None:
        self._write(JournalRecord("close", name))

    def flush(self) -> None:
        self._write(None)


def run_apply(
    api: FakeApi,
    base: State,
    manifests: dict[str, tuple[int, str]],
    *,
    prune: bool,
    faults: list[str],
) -> tuple[State, bool]:
    """One apply from the durable state; returns the durable state after it and whether
    the process died. Crash or not, what survives is the base plus the journal replayed."""
    dying = DyingApi(api, faults)
    records: list[JournalRecord] = []
    recorder = JournalRecorder(dying, records)
    try:
        # As pipeline.run_apply does: intents of removed manifests are settled first.
        settle_orphan_intents(base, set(manifests), dying, recorder, UserIds(dying, USER))
    except Crash:
        return record.replay(base, records), True
    base = record.replay(base, records)
    records.clear()
    models = [model_for(name, gpus, secret) for name, (gpus, secret) in manifests.items()]
    secrets = {name: {"hfToken": secret} for name, (_, secret) in manifests.items()}
    prints = {
        name: {"hfToken": fingerprint_secret(base.salt, "hfToken", value["hfToken"])}
        for name, value in secrets.items()
    }
    plan = planning.make_plan(models, base, prune=prune, fingerprints=prints)
    context = ApplyContext(
        api=dying,
        recorder=recorder,
        users=UserIds(dying, USER),
        secrets=secrets,
        salt=base.salt,
        attempts={name: intent.attempt for name, intent in base.intents.items()},
        stop=threading.Event(),
        progress=lambda name, message: None,
        lineage=base.lineage,
        open_intents=dict(base.intents),
    )
    with contextlib.suppress(Crash):
        apply_plan(plan, context, ApplyOptions(concurrency=1, wait=False))
    api.deploy_faults.clear()
    return record.replay(base, records), dying.dead


def model_for(name: str, gpus: int, secret: str) -> DesiredModel:
    return desired(name, secrets=(HF,), gpuCount=gpus)


def live_by_name(api: FakeApi) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for model in api.models.values():
        if model.status != "MODEL_STATUS_DELETED":
            out.setdefault(model.model_name, []).append(model.model_id)
    return out


class ApplyMachine(RuleBasedStateMachine):
    @initialize()
    def start(self) -> None:
        self.api = FakeApi()
        self.state = State(lineage="l", salt=SALT)
        self.manifests: dict[str, tuple[int, str]] = {}
        self.secret_counter = 0

    def _secret(self) -> str:
        self.secret_counter += 1
        return f"hf-secret-{self.secret_counter}"

    @rule(name=st.sampled_from(NAMES), gpus=st.integers(1, 4))
    def add(self, name: str, gpus: int) -> None:
        self.manifests.setdefault(name, (gpus, self._secret()))

    @precondition(lambda self: self.manifests)
    @rule(data=st.data())
    def remove(self, data: st.DataObject) -> None:
        del self.manifests[data.draw(st.sampled_from(sorted(self.manifests)))]

    @precondition(lambda self: self.manifests)
    @rule(data=st.data(), gpus=st.integers(1, 4))
    def change_gpus(self, data: st.DataObject, gpus: int) -> None:
        name = data.draw(st.sampled_from(sorted(self.manifests)))
        self.manifests[name] = (gpus, self.manifests[name][1])

    @precondition(lambda self: self.manifests)
    @rule(data=st.data())
    def rotate_secret(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(self.manifests)))
        self.manifests[name] = (self.manifests[name][0], self._secret())

    def _run(self, *, prune: bool, faults: list[str]) -> tuple[State, bool]:
        """One apply; the backend variants below carry it out through a real state store."""
        return run_apply(self.api, self.state, self.manifests, prune=prune, faults=faults)

    @rule(prune=st.booleans(), faults=st.lists(st.sampled_from(FAULTS), max_size=6))
    def faulty_apply(self, prune: bool, faults: list[str]) -> None:
        self.state, _ = self._run(prune=prune, faults=faults)

    @rule(prune=st.booleans())
    def clean_apply(self, prune: bool) -> None:
        self.state, died = self._run(prune=prune, faults=[])
        assert not died
        assert not self.state.intents, "a fault-free apply leaves no open intent"
        assert set(self.manifests) <= set(self.state.entries)
        if prune:
            assert set(self.state.entries) == set(self.manifests)
        live = live_by_name(self.api)
        assert {n: e.model_id for n, e in self.state.entries.items()} == {
            n: ids[0] for n, ids in live.items()
        }, "after a fault-free apply, state == live"
        for name, (gpus, _) in self.manifests.items():
            assert self.state.entries[name].spec["gpuCount"] == gpus

    @invariant()
    def one_live_model_per_name(self) -> None:
        if hasattr(self, "api"):
            for name, ids in live_by_name(self.api).items():
                assert len(ids) == 1, f"{name} has {len(ids)} live models: {ids}"

    @invariant()
    def settled_entries_are_live(self) -> None:
        # An entry with an open intent may point at a model its interrupted replace deleted;
        # every other recorded entry's model must be live.
        if hasattr(self, "api"):
            for name, entry in self.state.entries.items():
                if name not in self.state.intents:
                    assert self.api.live_named(name) is not None, name
                    assert self.api.live_named(name).model_id == entry.model_id  # type: ignore[union-attr]


ApplyMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("APPLY_MACHINE_EXAMPLES", str(examples(40)))),
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestApplyMachine = ApplyMachine.TestCase


def _clean(api: FakeApi, state: State, manifests: dict[str, tuple[int, str]]) -> State:
    after, died = run_apply(api, state, manifests, prune=False, faults=[])
    assert not died
    return after


def test_crash_after_create_then_manifest_edit_replaces_the_orphan() -> None:
    """Hole found by the machine: a create committed but never recorded, then a gpuCount edit.
    The resumed apply used to refuse the name ("exists with a different gpuCount") forever."""
    api = FakeApi()
    state = State(lineage="l", salt=SALT)
    manifests = {"m-a": (1, "s"), "m-b": (1, "s")}
    state, died = run_apply(api, state, manifests, prune=False, faults=["crash-after"])
    assert died and "m-a" not in state.entries and "m-a" in state.intents
    assert api.live_named("m-a") is not None  # the orphan the crash left
    state = _clean(api, state, {"m-a": (2, "s"), "m-b": (1, "s")})
    assert live_by_name(api) == {n: [e.model_id] for n, e in state.entries.items()}
    assert state.entries["m-a"].spec["gpuCount"] == 2 and not state.intents


def test_interrupted_replace_then_reverted_manifest_keeps_the_model() -> None:
    """A replace killed before its delete, manifest then reverted: no redeploy, intent closed."""
    api = FakeApi()
    state = _clean(api, State(lineage="l", salt=SALT), {"m-a": (1, "s")})
    first = state.entries["m-a"].model_id

    dying_api = api
    dying_api.delete_model = _raise_crash  # type: ignore[method-assign]
    state, _ = run_apply(dying_api, state, {"m-a": (2, "s")}, prune=False, faults=[])
    assert "m-a" in state.intents  # died in its delete, before any deploy
    del dying_api.delete_model
    deploys = len(api.deploy_calls)
    state = _clean(api, state, {"m-a": (1, "s")})
    assert len(api.deploy_calls) == deploys and state.entries["m-a"].model_id == first
    assert not state.intents


def test_removed_manifest_of_an_interrupted_create_is_recorded_not_lost() -> None:
    """Another hole: the create committed, the process died, then the manifest was removed.
    No planned change resumed the name, so the live model was never recorded."""
    api = FakeApi()
    state, died = run_apply(
        api, State(lineage="l", salt=SALT), {"m-a": (1, "s")}, prune=False, faults=["crash-after"]
    )
    assert died and api.live_named("m-a") is not None and not state.entries
    state = _clean(api, state, {})
    assert state.entries["m-a"].model_id == api.live_named("m-a").model_id  # type: ignore[union-attr]
    state, _ = run_apply(api, state, {}, prune=True, faults=[])
    assert not state.entries and not state.intents and api.live_named("m-a") is None


def _raise_crash(user_id: str, model_id: str) -> None:
    raise Crash
