"""One pass, wired in one readable place: load, validate, plan, [apply, record, save].

The commands call these functions; everything that decides is in `core`, everything
that touches the outside world is in `adapters`. Nothing here prints.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

from reconciler import checkout as git_checkout
from reconciler import heap
from reconciler.adapters import manifest_files, secrets, state_store
from reconciler.apply import (
    ApplyContext,
    ApplyOptions,
    Progress,
    UserIds,
    apply_plan,
    orphan_intents,
    quiet_result,
    settle_orphan_intents,
)
from reconciler.core import guard
from reconciler.core import plan as planning
from reconciler.core.errors import GuardError
from reconciler.core.model import DesiredModel, Intent, Plan, RecordedEntry, State
from reconciler.core.outcome import ApplyResult
from reconciler.core.ports import ModelsApi
from reconciler.core.record import JournalRecord
from reconciler.core.selection import Selection

ApiFactory = Callable[[], ModelsApi]
# Runs after a changed state was saved, while the lock is still held: the git write-back.
Publish = Callable[[ApplyResult], None]


@dataclass(frozen=True, slots=True)
class Scope:
    """What a run may touch and how far: selection, forced replaces, guard rails.

    `approve` is asked (on a terminal) before a plan that deletes or replaces a running
    model; it returns False to stop with nothing called.
    """

    selection: Selection = field(default_factory=Selection)
    force_replace: frozenset[str] = frozenset()
    max_destroy: int | None = None
    approve: Callable[[Plan], bool] = lambda plan: True


def check_guards(plan: Plan, desired: Sequence[DesiredModel], scope: Scope) -> None:
    """Refuse, before any API call, a plan the guard rails or the user do not allow."""
    check_guard_rails(plan, desired, scope)
    check_approval(plan, scope)


def check_guard_rails(plan: Plan, desired: Sequence[DesiredModel], scope: Scope) -> None:
    """--max-destroy and `protect`: decided from the plan alone, before any call at all
    (apply's pricing read included)."""
    refusal = guard.refuse_plan(plan, desired, max_destroy=scope.max_destroy)
    if refusal is not None:
        raise GuardError(refusal)


def check_approval(plan: Plan, scope: Scope) -> None:
    """The question on a terminal, asked once the plan has been shown."""
    if plan.destructive and not scope.approve(plan):
        raise GuardError("not approved: nothing was changed")


def check_names(desired: Sequence[DesiredModel], state: State, scope: Scope) -> None:
    unknown = planning.unknown_names(desired, state, scope.force_replace)
    if unknown:
        from reconciler.core.errors import UsageError

        raise UsageError(
            f"--replace {', '.join(unknown)}: no manifest and no recorded entry has that name"
        )


@dataclass(frozen=True, slots=True)
class PlanRun:
    desired: tuple[DesiredModel, ...]
    state: State
    plan: Plan


@dataclass(frozen=True, slots=True)
class ApplyRun:
    plan_run: PlanRun
    result: ApplyResult
    state_written: bool


class StoreRecorder:
    """The apply step's Recorder, backed by the state store's durable journal."""

    def __init__(self, store: state_store.StateStore) -> None:
        self._store = store

    def record_intent(self, intent: Intent) -> None:
        self._store.record(JournalRecord("intent", intent.name, intent))

    def record_intents(self, intents: Sequence[Intent]) -> None:
        self._store.record_many([JournalRecord("intent", i.name, i) for i in intents])

    def record_entry(self, entry: RecordedEntry) -> None:
        # Not waited for: apply records an entry only while its name has a durable open
        # intent, which makes a lost line harmless (the next run finds the model by name).
        self._store.record(JournalRecord("entry", entry.name, entry), wait=False)

    def record_status(self, name: str, status: str) -> None:
        self._store.record(JournalRecord("status", name, status))

    def record_failure(self, name: str, reason: str) -> None:
        self._store.record(JournalRecord("taint", name, reason))

    def forget(self, name: str) -> None:
        self._store.record(JournalRecord("forget", name))

    def close_intent(self, name: str) -> None:
        self._store.record(JournalRecord("close", name))

    def flush(self) -> None:
        self._store.flush()


@contextmanager
def connected(connect: ApiFactory) -> Iterator[ModelsApi]:
    """An API client for one block, closed after it (its connection pool is released)."""
    api = connect()
    try:
        yield api
    finally:
        close = getattr(api, "close", None)
        if callable(close):
            close()


def plan_against(
    desired: Sequence[DesiredModel],
    state: State,
    *,
    prune: bool,
    env: Mapping[str, str] | None = None,
    scope: Scope | None = None,
) -> Plan:
    scope = scope or Scope()
    fingerprints = secrets.fingerprint_available(desired, state.salt, env)
    return planning.make_plan(
        desired,
        state,
        prune=prune,
        fingerprints=fingerprints,
        force_replace=scope.force_replace,
        selection=scope.selection,
    )


def make_plan_run(
    paths: Sequence[str],
    state_path: str,
    *,
    prune: bool,
    env: Mapping[str, str] | None = None,
    scope: Scope | None = None,
) -> PlanRun:
    """Read-only: manifests and state in, plan out. Takes no lock."""
    scope = scope or Scope()
    with heap.building_long_lived():
        desired = manifest_files.load_desired(paths)
        state = state_store.read_state(state_path)
    check_names(desired, state, scope)
    return PlanRun(desired, state, plan_against(desired, state, prune=prune, env=env, scope=scope))


def preflight(run: PlanRun, state_path: str, *, env: Mapping[str, str]) -> list[str]:
    """What `plan` can tell before an apply would fail or surprise: warnings, not errors."""
    from pathlib import Path

    warnings = []
    if "://" not in state_path and not Path(state_path).exists():
        warnings.append(
            f"state file {state_path} does not exist: every entry plans as a create (the "
            "first apply writes it); check --state if you expected recorded entries"
        )
    names = {change.name for change in run.plan.changes}  # the selected entries only
    warnings.extend(secrets.unresolved([m for m in run.desired if m.name in names], env))
    return warnings


def run_apply(
    paths: Sequence[str],
    state_path: str,
    *,
    prune: bool,
    options: ApplyOptions,
    connect: ApiFactory,
    stop: threading.Event,
    progress: Progress,
    show_plan: Callable[[Plan], None] = lambda plan: None,
    lock_timeout: float = 60.0,
    env: Mapping[str, str] | None = None,
    scope: Scope | None = None,
    heartbeat: Callable[[str], None] = lambda message: None,
    checkout: git_checkout.Checkout | None = None,
    publish: Publish | None = None,
    vet: Callable[[Plan], None] = lambda plan: None,
) -> ApplyRun:
    """Plan under the state lock, then carry it out, recording each outcome durably.

    `checkout`: the manifests' git checkout, refused when stale and recorded as the
    revision. `publish` runs after the save, still under the lock. `vet` sees the plan
    before any call that changes anything and may refuse it by raising (the cost check)."""
    env = os.environ if env is None else env
    scope = scope or Scope()
    # Bad manifests fail before the lock is taken or anything is called.
    with heap.building_long_lived():
        desired = manifest_files.load_desired(paths)
    with state_store.StateStore.open(
        state_path, command="apply", lock_timeout=lock_timeout
    ) as store:
        state = store.state
        git_checkout.check_fresh(checkout, state, command="apply")
        check_names(desired, state, scope)
        orphans = [
            name
            for name in orphan_intents(state, {model.name for model in desired})
            if scope.selection.selects(name, None)
        ]
        if orphans:
            state = _settle(store, desired, connect, env)
        plan = plan_against(desired, state, prune=prune, env=env, scope=scope)
        plan_run = PlanRun(desired, state, plan)
        # The audit history (PostgreSQL) says what was meant, even after a crash.
        store.note_run(
            plan=plan, manifests=tuple(paths), revision=git_checkout.recorded_revision(checkout)
        )
        result = _carry_out(
            plan,
            desired,
            store,
            scope=scope,
            options=options,
            connect=connect,
            stop=stop,
            progress=progress,
            env=env,
            heartbeat=heartbeat,
            show_plan=show_plan,
            vet=vet,
        )
        return ApplyRun(plan_run, result, _save(store, result, checkout, publish))


def _carry_out(
    plan: Plan,
    desired: Sequence[DesiredModel],
    store: state_store.StateStore,
    *,
    scope: Scope,
    options: ApplyOptions,
    connect: ApiFactory,
    stop: threading.Event,
    progress: Progress,
    env: Mapping[str, str],
    heartbeat: Callable[[str], None],
    show_plan: Callable[[Plan], None],
    vet: Callable[[Plan], None],
) -> ApplyResult:
    """The one way a plan is carried out under the lock, for `apply` and `apply --plan`:
    guard rails, cost check, the plan shown, the question, then the calls."""
    if not plan.has_work:
        return quiet_result(plan)
    check_guard_rails(plan, desired, scope)
    vet(plan)
    show_plan(plan)  # what is about to happen, before the first call
    check_approval(plan, scope)
    result = execute(
        plan,
        store,
        options=options,
        connect=connect,
        stop=stop,
        progress=progress,
        env=env,
        heartbeat=heartbeat,
    )
    store.note_run(result=result)
    return result


def _save(
    store: state_store.StateStore,
    result: ApplyResult,
    checkout: git_checkout.Checkout | None,
    publish: Publish | None,
) -> bool:
    """Fold the journal into the state file, then publish it before the lock is released:
    a write-back after the release raced other writers of this clone's state."""
    written = store.commit(revision=git_checkout.recorded_revision(checkout))
    if written and publish is not None:
        publish(result)
    return written


def _settle(
    store: state_store.StateStore,
    desired: Sequence[DesiredModel],
    connect: ApiFactory,
    env: Mapping[str, str],
) -> State:
    """Resolve intents of removed manifests before planning (see settle_orphan_intents)."""
    with connected(connect) as api:  # a bad token or URL is refused before anything is written
        store.ensure_on_disk()
        users = UserIds(api, env.get("TENSORMESH_USER_ID") or None)
        wanted = {model.name for model in desired}
        settle_orphan_intents(store.state, wanted, api, StoreRecorder(store), users)
    return store.state


def execute(
    plan: Plan,
    store: state_store.StateStore,
    *,
    options: ApplyOptions,
    connect: ApiFactory,
    stop: threading.Event,
    progress: Progress,
    env: Mapping[str, str],
    heartbeat: Callable[[str], None] = lambda message: None,
) -> ApplyResult:
    """Resolve secrets (all or nothing, before any call), then apply through the API."""
    needed = [c.desired for c in plan.changes if c.runs_in_apply and c.desired is not None]
    secret_values = secrets.resolve_secrets(needed, env)
    # The lineage (every create's mark) and the salt (every fingerprint) must survive a kill
    # or a full disk at any later point: on a first apply they exist only in memory so far.
    # Connecting makes no call; a bad token or URL is refused before anything is written.
    with connected(connect) as api:
        store.ensure_on_disk()
        state = store.state
        users = UserIds(api, env.get("TENSORMESH_USER_ID") or None)
        if any(c.desired is None or c.desired.user_id is None for c in plan.changes):
            # One whoami up front: a wrong token or a dead API stops the run before any
            # entry starts, with one message instead of one failure per entry.
            users.default()
        context = ApplyContext(
            api=api,
            recorder=StoreRecorder(store),
            users=users,
            secrets=secret_values,
            salt=state.salt,
            attempts={name: intent.attempt for name, intent in state.intents.items()},
            stop=stop,
            progress=progress,
            lineage=state.lineage,
            open_intents=dict(state.intents),
            heartbeat=heartbeat,
        )
        # Waiting for MODEL_STATUS_UP sleeps on the stop flag: a signal ends the wait at once.
        return _point_at_fields(
            apply_plan(plan, context, options, sleep=lambda seconds: _nap(stop, seconds)), plan
        )


def _nap(stop: threading.Event, seconds: float) -> None:
    stop.wait(seconds)


# The API's 400 message names the field first, e.g. "gpuCount: must be an integer >= 1".
_FIELD_MESSAGE = re.compile(r"with HTTP 400: ([A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z][A-Za-z0-9]*)*):")


def _point_at_fields(result: ApplyResult, plan: Plan) -> ApplyResult:
    """A 400 about a field of the request: say where the manifest writes that field."""
    desired = {c.name: c.desired for c in plan.changes if c.desired is not None}
    outcomes = []
    for outcome in result.outcomes:
        match = _FIELD_MESSAGE.search(outcome.reason or "") if outcome.failed else None
        model = desired.get(outcome.name)
        where = (
            None
            if match is None or model is None
            else manifest_files.locate_field(model, match.group(1))
        )
        if where is not None:
            outcome = replace(outcome, reason=f"{where}: {outcome.reason}")
        outcomes.append(outcome)
    return replace(result, outcomes=tuple(outcomes))


def save_plan(run: PlanRun, out_path: str, *, prune: bool) -> None:
    """`plan --out`: write the plan with the state serial/lineage and manifests it came from."""
    from reconciler.adapters import plan_file
    from reconciler.core import saved_plan
    from reconciler.core.desired import manifests_digest

    saved = saved_plan.make_saved_plan(
        run.plan, run.state, manifests_digest=manifests_digest(run.desired), prune=prune
    )
    plan_file.write_plan_file(out_path, saved)


def run_saved_plan(
    plan_path: str,
    state_path: str,
    *,
    options: ApplyOptions,
    connect: ApiFactory,
    stop: threading.Event,
    progress: Progress,
    show_plan: Callable[[Plan], None] = lambda plan: None,
    lock_timeout: float = 60.0,
    env: Mapping[str, str] | None = None,
    scope: Scope | None = None,
    heartbeat: Callable[[str], None] = lambda message: None,
    checkout: git_checkout.Checkout | None = None,
    publish: Publish | None = None,
    vet: Callable[[Plan], None] = lambda plan: None,
) -> ApplyRun:
    """`apply --plan`: carry out exactly a saved plan, or refuse it as stale before any call.

    The manifests are not read again; secrets are (they were never saved).
    """
    from reconciler.adapters import plan_file
    from reconciler.core import saved_plan
    from reconciler.core.errors import StalePlanError

    env = os.environ if env is None else env
    # A corrupt plan file fails before the lock is taken or anything is called.
    saved = plan_file.read_plan_file(plan_path)
    with state_store.StateStore.open(
        state_path, command="apply", lock_timeout=lock_timeout
    ) as store:
        state = store.state
        git_checkout.check_fresh(checkout, state, command="apply")
        # Checked under the lock: nobody can move the state between this check and the calls.
        why = saved_plan.describe_staleness(saved, state)
        if why is not None:
            raise StalePlanError(
                f"saved plan {plan_path} is stale: {why}. Nothing was applied; make a new plan "
                "with `tensormesh-reconciler plan PATH... --out FILE` and apply that"
            )
        plan = saved.plan
        plan_run = PlanRun(saved.desired, state, plan)
        store.note_run(plan=plan, revision=git_checkout.recorded_revision(checkout))
        result = _carry_out(
            plan,
            saved.desired,
            store,
            scope=scope or Scope(),
            options=options,
            connect=connect,
            stop=stop,
            progress=progress,
            env=env,
            heartbeat=heartbeat,
            show_plan=show_plan,
            vet=vet,
        )
        return ApplyRun(plan_run, result, _save(store, result, checkout, publish))
