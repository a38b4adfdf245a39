"""The apply state machine of test_apply_stateful.py, recording through a real state store:
a state file, and a PostgreSQL workspace on a real server.

A crash abandons the store as a killed process would: nothing more is written or flushed,
the lock's connection (or file descriptor) just ends. What survives is what the next run
reads from the backend; the machine's invariants are checked against that.
"""

from __future__ import annotations

import itertools
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import initialize, run_state_machine_as_test

from reconciler.adapters import state_location, state_store
from reconciler.apply import ApplyContext, ApplyOptions, apply_plan, settle_orphan_intents
from reconciler.core import plan as planning
from reconciler.core.model import State
from reconciler.core.spec import fingerprint_secret
from reconciler.session import StoreRecorder, UserIds
from tests.support.fake_api import USER, FakeApi
from tests.test_apply_stateful import ApplyMachine, Crash, DyingApi, model_for

_workspaces = itertools.count()


class DyingRecorder(StoreRecorder):
    """The pipeline's recorder, refusing every write once the process is dead."""

    def __init__(self, store: state_store.StateStore, api: DyingApi) -> None:
        super().__init__(store)
        self._api = api

    def __getattribute__(self, name: str) -> Any:
        attr = super().__getattribute__(name)
        if callable(attr) and not name.startswith("_") and super().__getattribute__("_api").dead:
            raise Crash
        return attr


def _kill(store: state_store.StateStore) -> None:
    """End the store as kill -9 would: no flush, no commit, no history, lock gone."""
    backing: Any = store._backing  # test-only reach into the store's parts
    if hasattr(backing, "_conn"):  # PostgreSQL: both sessions end, open transactions abort
        backing._conn.close()
        backing._lock._conn.close()
    else:
        store._journal.close()
        backing.lock.release()


def run_apply_on(
    location: str,
    api: FakeApi,
    manifests: dict[str, tuple[int, str]],
    *,
    prune: bool,
    faults: list[str],
) -> tuple[State, bool]:
    dying = DyingApi(api, faults)
    store = state_store.StateStore.open(location, command="apply", lock_timeout=5)
    recorder = DyingRecorder(store, dying)
    try:
        base = store.state
        store.ensure_on_disk()
        settle_orphan_intents(base, set(manifests), dying, recorder, UserIds(dying, USER))
        base = store.state
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
        apply_plan(plan, context, ApplyOptions(concurrency=1, wait=False))
        if dying.dead:
            raise Crash
        store.commit()
        store.close()
    except Crash:
        _kill(store)
    api.deploy_faults.clear()
    return state_store.read_state(location), dying.dead


class BackendMachine(ApplyMachine):
    location_of_run: Any = None  # set by each test: () -> a fresh, empty state location

    @initialize()
    def start(self) -> None:
        super().start()
        self.location = type(self).location_of_run()
        self.state = state_store.read_state(self.location)

    def _run(self, *, prune: bool, faults: list[str]) -> tuple[State, bool]:
        return run_apply_on(self.location, self.api, self.manifests, prune=prune, faults=faults)


def _settings(default_examples: str) -> settings:
    return settings(
        max_examples=int(os.environ.get("APPLY_MACHINE_BACKEND_EXAMPLES", default_examples)),
        stateful_step_count=12,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )


def test_apply_machine_on_a_state_file(tmp_path: Path) -> None:
    root = tmp_path

    class FileMachine(BackendMachine):
        location_of_run = staticmethod(lambda: str(root / f"s{next(_workspaces)}.json"))

    run_state_machine_as_test(FileMachine, settings=_settings("10"))


@pytest.mark.postgres
def test_apply_machine_on_postgresql(pg_url: str) -> None:
    class DatabaseMachine(BackendMachine):
        location_of_run = staticmethod(
            lambda: state_location.with_workspace(pg_url, f"m{next(_workspaces)}")
        )

    run_state_machine_as_test(DatabaseMachine, settings=_settings("10"))


@pytest.mark.parametrize("backend", ["file", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_killed_runs_recover_through_each_backend(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Scripted, so that every run checks recovery: a kill right after a committed create
    (its answer never recorded), one before a create, then clean runs: one model per name,
    state == live, no open intent."""
    location = (
        str(tmp_path / "s.json")
        if backend == "file"
        else state_location.with_workspace(request.getfixturevalue("pg_url"), "w")
    )
    api = FakeApi()
    manifests = {"m-a": (1, "s"), "m-b": (1, "s"), "m-c": (1, "s")}
    state, died = run_apply_on(location, api, manifests, prune=False, faults=["ok", "crash-after"])
    assert died and "m-a" in state.entries and "m-b" in state.intents  # the intent survived
    state, died = run_apply_on(location, api, manifests, prune=False, faults=["crash-before"])
    assert died
    state, died = run_apply_on(
        location, api, {**manifests, "m-a": (2, "s")}, prune=False, faults=[]
    )
    assert not died and not state.intents
    live = {
        m.model_name: m.model_id for m in api.models.values() if m.status != "MODEL_STATUS_DELETED"
    }
    assert {n: e.model_id for n, e in state.entries.items()} == live
    assert sorted(live) == ["m-a", "m-b", "m-c"]
    assert [r.model_name for r in api.deploy_calls].count("m-b") == 1  # found, not redeployed
    assert state.entries["m-a"].spec["gpuCount"] == 2
