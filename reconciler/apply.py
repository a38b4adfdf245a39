"""Apply: run a Plan through the API port, recording every outcome as it happens.

Each deploy is preceded by a durable intent and followed at once by a durable
entry, so a crash loses no ID. A deploy is sent at most once per entry and run
(a 429 refusal excepted, and only after a lookup by name shows nothing was
created); after an unclear outcome the model is looked up by `modelName` and
adopted. No printing here: progress goes to a callback.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from reconciler import workers
from reconciler.apply_shared import INTENTS_AHEAD, IntentsAhead, ListedByName, Shared
from reconciler.core import drift
from reconciler.core.errors import (
    ApiConflictError,
    ApiError,
    ApiRateLimitedError,
    ApiServerError,
    ApiTimeoutError,
    ApiUnreachableError,
    CircuitOpenError,
)
from reconciler.core.model import (
    STATUS_DELETED,
    STATUS_UP,
    Action,
    Change,
    DeployRequest,
    DesiredModel,
    Intent,
    LiveModel,
    Plan,
    RecordedEntry,
    RecordedSecret,
    State,
)
from reconciler.core.outcome import ApplyResult, EntryOutcome
from reconciler.core.ports import ModelsApi
from reconciler.core.spec import fingerprint_secret, live_differences, spec_digest

# Errors after which a create may or may not have happened: only a lookup tells.
UNCLEAR = (ApiTimeoutError, ApiUnreachableError, ApiServerError, ApiConflictError)
# A 429 is a refusal (nothing created); it is retried only after a lookup by name.
MAX_RATE_LIMITED_ATTEMPTS = 4


class Recorder(Protocol):
    """Durable record of outcomes (the state store's journal); thread-safe.

    Each call is durable when it returns, except `record_entry`, which may be durable only
    by the next call or `flush()`: it is only ever called while the entry's name has a
    durable open intent (recorded by this run, or left by an interrupted one).
    """

    def record_intent(self, intent: Intent) -> None: ...
    def record_intents(self, intents: Sequence[Intent]) -> None: ...
    def record_entry(self, entry: RecordedEntry) -> None: ...
    def record_status(self, name: str, status: str) -> None: ...
    def forget(self, name: str) -> None: ...
    def close_intent(self, name: str) -> None: ...
    def flush(self) -> None: ...


Progress = Callable[[str, str], None]


@dataclass(frozen=True, slots=True)
class ApplyOptions:
    concurrency: int = 8
    wait: bool = True
    wait_timeout: float = 1800.0
    poll_interval: float = 2.0
    max_poll_interval: float = 15.0


class EntryFailedError(Exception):
    """One entry failed; the others go on. Internal to this module."""

    def __init__(self, reason: str, request_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.request_id = request_id


class UserIds:
    """userId per entry: the manifest's, else TENSORMESH_USER_ID, else one whoami per run."""

    def __init__(self, api: ModelsApi, default: str | None) -> None:
        self._api = api
        self._default = default
        self._lock = threading.Lock()

    def for_model(self, model: DesiredModel | None) -> str:
        if model is not None and model.user_id:
            return model.user_id
        return self.default()

    def default(self) -> str:
        with self._lock:
            if self._default is None:
                self._default = self._api.whoami()
            return self._default


@dataclass(frozen=True, slots=True)
class ApplyContext:
    api: ModelsApi
    recorder: Recorder
    users: UserIds
    secrets: Mapping[str, Mapping[str, str]]
    salt: str
    attempts: Mapping[str, int]
    stop: threading.Event
    progress: Progress


def apply_plan(
    plan: Plan,
    context: ApplyContext,
    options: ApplyOptions,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> ApplyResult:
    """Carry out every change that makes an API call; independent entries in parallel."""
    work = [change for change in plan.changes if change.makes_api_call]
    outcomes: dict[str, EntryOutcome] = {
        change.name: quiet_outcome(change) for change in plan.changes if not change.makes_api_call
    }
    intents = IntentsAhead(work, context.recorder, context.attempts, ahead=INTENTS_AHEAD)
    shared = Shared(intents, ListedByName(context.api))
    done = workers.run_all(
        work,
        lambda change: _run_change(change, context, shared),
        threads=options.concurrency,
        name="apply",
    )
    outcomes.update((outcome.name, outcome) for outcome in done)
    for name in shared.intents.journaled():
        if outcomes[name].result == "not-started":
            context.recorder.close_intent(name)  # journaled ahead, never sent: nothing to find
    context.recorder.flush()  # every returned ID on disk before anything reports it
    if options.wait and not context.stop.is_set():
        outcomes = _wait_until_up(outcomes, context, options, sleep=sleep, clock=clock)
    ordered = tuple(outcomes[name] for name in sorted(outcomes))
    return ApplyResult(ordered, interrupted=context.stop.is_set())


def orphan_intents(state: State, wanted: Collection[str]) -> list[str]:
    """Names with an open intent whose manifest is gone: no planned deploy will resume them."""
    return sorted(name for name in state.intents if name not in wanted)


def settle_orphan_intents(
    state: State, wanted: Collection[str], api: ModelsApi, recorder: Recorder, users: UserIds
) -> None:
    """Settle interrupted deploys whose manifest was removed since, by a lookup by name:
    the model found is recorded (never a lost ID; the plan then deletes it under --prune,
    or keeps it), and when there is none the name is forgotten (its intent closed)."""
    listed = ListedByName(api)
    for name in orphan_intents(state, wanted):
        entry = state.entries.get(name)
        user = (entry.user_id if entry else None) or users.default()
        live = listed.find(user, name)
        if live is None:
            if entry is None:
                recorder.close_intent(name)
            else:
                recorder.forget(name)  # its replace deleted it and deployed nothing
            continue
        if entry is not None and entry.model_id == live.model_id:
            recorder.record_entry(entry)  # interrupted before it changed anything
            continue
        recorder.record_entry(
            RecordedEntry(
                name=name,
                model_id=live.model_id,
                spec=live.spec,
                spec_digest=spec_digest(live.spec),
                deployment_id=live.deployment_id,
                status=live.status,
                user_id=live.user_id or user,
                secrets={},
            )
        )
    recorder.flush()  # the plan that follows must see every model settled here


def quiet_result(plan: Plan) -> ApplyResult:
    """The result of a plan that needs no API call."""
    return ApplyResult(tuple(quiet_outcome(change) for change in plan.changes))


def quiet_outcome(change: Change) -> EntryOutcome:
    if change.skipped:
        return EntryOutcome(
            change.name, change.action, "skipped", change.model_id, None, change.reason
        )
    return EntryOutcome(change.name, change.action, "unchanged", change.model_id)


def _run_change(change: Change, context: ApplyContext, shared: Shared) -> EntryOutcome:
    if context.stop.is_set():
        return EntryOutcome(
            change.name,
            change.action,
            "not-started",
            change.model_id,
            reason="the run was stopped before this entry started",
        )
    context.progress(change.name, f"{change.action.value} started")
    try:
        if change.action is Action.DELETE:
            outcome = _delete(change, context)
        else:
            outcome = _deploy_entry(change, context, shared)
    except (EntryFailedError, ApiError) as exc:
        if isinstance(exc, CircuitOpenError):
            context.stop.set()  # the control plane looks down: start no new entries
        reason = exc.reason if isinstance(exc, EntryFailedError) else str(exc)
        outcome = EntryOutcome(
            change.name,
            change.action,
            "failed",
            change.model_id,
            reason=reason,
            request_id=exc.request_id,
        )
    context.progress(change.name, outcome.result)
    return outcome


def _delete(change: Change, context: ApplyContext) -> EntryOutcome:
    assert change.recorded is not None
    user = change.recorded.user_id or context.users.default()
    context.api.delete_model(user, change.recorded.model_id)
    context.recorder.forget(change.name)
    return EntryOutcome(change.name, change.action, "deleted", change.recorded.model_id)


def _deploy_entry(change: Change, context: ApplyContext, shared: Shared) -> EntryOutcome:
    desired = change.desired
    assert desired is not None
    user = context.users.for_model(desired)
    # The model to delete before deploying: the recorded one, unless resuming finds another.
    old: tuple[str, str] | None = None
    if change.action is Action.REPLACE and change.recorded is not None:
        old = (change.recorded.model_id, change.recorded.user_id or user)
    if change.resume:
        resumed = _resume(change, desired, user, context, shared.listed)
        if isinstance(resumed, EntryOutcome):
            return resumed
        if resumed is not None:
            old = (resumed.model_id, resumed.user_id or user)
    shared.intents.ensure(change)
    if old is not None:
        context.progress(change.name, f"deleting old model {old[0]}")
        context.api.delete_model(old[1], old[0])
    live = _deploy_once(desired, user, context)
    _record(desired, live, user, context)
    result = "created" if change.action is Action.CREATE else "replaced"
    return EntryOutcome(
        change.name, change.action, result, live.model_id, live.status, user_id=user
    )


def _resume(
    change: Change, desired: DesiredModel, user: str, context: ApplyContext, listed: ListedByName
) -> EntryOutcome | LiveModel | None:
    """An earlier run was interrupted here (its intent is open): find what it left.

    Returns an outcome when nothing more is needed, a model the interrupted run created
    from an earlier manifest (to be replaced), or None to deploy as planned.
    """
    live = listed.find(user, desired.name)
    recorded = change.recorded
    if live is not None and recorded is not None and live.model_id == recorded.model_id:
        if change.fields:
            return None  # interrupted before its delete: replace as planned
        # The manifest went back to what is recorded: nothing to do but close the intent.
        context.recorder.record_entry(recorded)
        return EntryOutcome(
            change.name, Action.NOOP, "unchanged", recorded.model_id, recorded.status
        )
    if live is None:
        return None
    if live_differences(desired.spec, live.spec):
        # The open intent says an interrupted run of ours deployed this name, from a
        # manifest that has changed since: it is ours, so replace it (never a second model).
        context.progress(change.name, f"found {live.model_id} from an interrupted apply")
        return live
    _record(desired, live, user, context)
    return EntryOutcome(
        change.name,
        change.action,
        "adopted",
        live.model_id,
        live.status,
        reason="found by name after an interrupted apply",
        user_id=user,
    )


def _deploy_once(desired: DesiredModel, user: str, context: ApplyContext) -> LiveModel:
    request = DeployRequest(desired.name, user, desired.spec, context.secrets.get(desired.name, {}))
    for _ in range(MAX_RATE_LIMITED_ATTEMPTS):
        try:
            return context.api.deploy_model(request)
        except ApiRateLimitedError as exc:
            last: ApiError = exc
            found = _look_up(desired, user, context, exc)
            if found is not None:
                return found
            if context.stop.is_set():
                break
        except UNCLEAR as exc:
            found = _look_up(desired, user, context, exc)
            if found is not None:
                return found
            raise EntryFailedError(
                f"deploy outcome unknown ({exc}) and no model named {desired.name!r} exists; "
                "nothing was recorded as deployed, run apply again",
                exc.request_id,
            ) from exc
    raise EntryFailedError(f"deploy refused: {last}", last.request_id)


def _look_up(
    desired: DesiredModel, user: str, context: ApplyContext, cause: ApiError
) -> LiveModel | None:
    context.progress(desired.name, f"unclear outcome ({type(cause).__name__}); looking up by name")
    live = context.api.find_model_by_name(user, desired.name)
    if live is not None:
        _check_matches(desired, live)
    return live


def _check_matches(desired: DesiredModel, live: LiveModel) -> None:
    differences = live_differences(desired.spec, live.spec)
    if differences:
        raise EntryFailedError(
            f"a model named {desired.name!r} already exists (model {live.model_id}) with a "
            f"different {', '.join(differences)}; it was not adopted. Delete it, or adopt it with "
            f"`state import {desired.name} {live.model_id}` and apply again"
        )


def _record(desired: DesiredModel, live: LiveModel, user: str, context: ApplyContext) -> None:
    values = context.secrets.get(desired.name, {})
    secrets = {
        ref.field: RecordedSecret(
            ref.as_manifest(),
            fingerprint_secret(context.salt, ref.field, values[ref.field])
            if ref.field in values
            else None,
        )
        for ref in desired.secrets
    }
    context.recorder.record_entry(
        RecordedEntry(
            name=desired.name,
            model_id=live.model_id,
            spec=desired.spec,
            spec_digest=desired.digest,
            deployment_id=live.deployment_id,
            status=live.status,
            user_id=live.user_id or user,
            secrets=secrets,
        )
    )


def _wait_until_up(
    outcomes: dict[str, EntryOutcome],
    context: ApplyContext,
    options: ApplyOptions,
    *,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> dict[str, EntryOutcome]:
    """Poll with one list call per round (not one call per entry) until all are UP."""
    pending = {
        name: outcome
        for name, outcome in outcomes.items()
        if outcome.result in ("created", "replaced", "adopted") and outcome.status != STATUS_UP
    }
    deadline = clock() + options.wait_timeout
    interval = options.poll_interval
    last_seen: dict[str, LiveModel] = {}
    while pending and not context.stop.is_set():
        users = {outcome.user_id or context.users.default() for outcome in pending.values()}
        live_by_id: dict[str, LiveModel] = {}
        try:
            for user in users:
                live_by_id.update({m.model_id: m for m in context.api.list_models(user)})
        except ApiError as exc:
            for name, outcome in pending.items():
                outcomes[name] = replace(
                    outcome, result="failed", reason=f"deployed, but waiting failed: {exc}"
                )
            return outcomes
        for name, outcome in list(pending.items()):
            live = live_by_id.get(outcome.model_id or "")
            if live is None:
                continue
            last_seen[name] = live
            if live.status == STATUS_UP:
                context.recorder.record_status(name, STATUS_UP)
                context.progress(name, "up")
                outcomes[name] = replace(outcome, status=STATUS_UP)
                del pending[name]
            elif _is_failed(live.status):
                context.recorder.record_status(name, live.status)
                outcomes[name] = replace(
                    outcome,
                    result="failed",
                    status=live.status,
                    reason=f"model became {live.status}{_events(live)}",
                )
                del pending[name]
        if not pending:
            break
        if clock() + interval > deadline:
            for name, outcome in pending.items():
                seen = last_seen.get(name)
                outcomes[name] = replace(
                    outcome,
                    result="failed",
                    reason=f"not {STATUS_UP} within {options.wait_timeout:g}s"
                    + (_events(seen) if seen else ""),
                )
            return outcomes
        sleep(interval)
        interval = min(interval * 1.5, options.max_poll_interval)
    return outcomes


def _is_failed(status: str) -> bool:
    return status == STATUS_DELETED or drift.is_failed_status(status)


def _events(live: LiveModel) -> str:
    recent = [event.log for event in live.events[-3:] if event.log]
    return f"; recent events: {' | '.join(recent)}" if recent else ""
