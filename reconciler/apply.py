"""Apply: run a Plan through the API port, recording every outcome as it happens.

Each deploy is preceded by a durable intent and followed at once by a durable
entry, so a crash loses no ID. A deploy is sent at most once per entry and run
(a 429 refusal excepted, and only after a lookup by name shows nothing was
created); after an unclear outcome the model is looked up by `modelName` and
adopted only when it carries this state's mark (core/ownership.py): a model this
state does not own is never adopted, replaced or deleted. No printing here:
progress goes to a callback.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from reconciler import failure_logs, workers
from reconciler.apply_shared import INTENTS_AHEAD, IntentsAhead, ListedByName, Shared
from reconciler.core import drift
from reconciler.core.errors import (
    ApiConflictError,
    ApiError,
    ApiMalformedError,
    ApiRateLimitedError,
    ApiServerError,
    ApiTimeoutError,
    ApiUnreachableError,
    CircuitOpenError,
    ReconcilerError,
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
from reconciler.core.outcome import ApplyResult, EntryOutcome, Outcome
from reconciler.core.ownership import Mark, Ownership, foreign_message, judge
from reconciler.core.ports import ModelsApi
from reconciler.core.spec import fingerprint_secret, live_differences, spec_digest
from reconciler.session import UserIds

log = logging.getLogger("reconciler.apply")
# Errors after which a create may or may not have happened: only a lookup tells. A 409 is
# not one of them: it is a definite answer (our create did not happen; the name is held).
UNCLEAR = (ApiTimeoutError, ApiUnreachableError, ApiServerError, ApiMalformedError)
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
    def record_failure(self, name: str, reason: str) -> None: ...
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
    # A line at least this often while waiting for UP, so a CI log (no progress lines, no
    # terminal) never looks hung: the beat plus one poll interval stays under 60 s.
    heartbeat_interval: float = 45.0


class EntryFailedError(Exception):
    """One entry failed; the others go on. Internal to this module."""

    def __init__(self, reason: str, request_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.request_id = request_id


class DeployRefusedError(Exception):
    """The deploy was definitely not carried out (never sent, or a 4xx refusal)."""

    def __init__(self, cause: ApiError) -> None:
        super().__init__(str(cause))
        self.cause = cause


def is_definite_refusal(exc: ApiError) -> bool:
    """Nothing happened on the server: the request was never sent (no connection, the circuit
    open), or a 4xx answer other than 409 (the ownership rules) and 429 (looked up first)."""
    if isinstance(exc, ApiTimeoutError):
        return False  # sent, no answer: unknown
    if isinstance(exc, ApiUnreachableError | CircuitOpenError):
        return True
    return exc.status is not None and 400 <= exc.status < 500 and exc.status not in (409, 429)


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
    lineage: str  # this state's: the mark of every create, the proof of ownership
    open_intents: Mapping[str, Intent] = field(default_factory=dict)  # left by earlier runs
    heartbeat: Callable[[str], None] = lambda message: None  # while waiting for UP

    def owner(self, live: LiveModel, nonce: str | None) -> Ownership:
        return judge(live.mark, lineage=self.lineage, nonce=nonce)

    def open_nonce(self, name: str) -> str | None:
        intent = self.open_intents.get(name)
        return None if intent is None else intent.nonce


def apply_plan(
    plan: Plan,
    context: ApplyContext,
    options: ApplyOptions,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> ApplyResult:
    """Carry out every change that makes an API call; independent entries in parallel."""
    work = [change for change in plan.changes if change.runs_in_apply]
    outcomes: dict[str, EntryOutcome] = {
        change.name: quiet_outcome(change) for change in plan.changes if not change.runs_in_apply
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
        if outcomes[name].result is Outcome.NOT_STARTED:
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
    a model found with this state's mark is recorded (never a lost ID; the plan then
    deletes it under --prune, or keeps it); when there is none, or the name is held by a
    model this state does not own (never recorded, so never pruned), the intent is closed
    and a recorded entry, whose model is then gone, forgotten."""
    listed = ListedByName(api)
    for name in orphan_intents(state, wanted):
        entry = state.entries.get(name)
        user = (entry.user_id if entry else None) or users.default()
        live = listed.find(user, name)
        if live is not None and entry is not None and entry.model_id == live.model_id:
            recorder.record_entry(entry)  # interrupted before it changed anything
            continue
        nonce = state.intents[name].nonce
        if live is None or not judge(live.mark, lineage=state.lineage, nonce=nonce).ours:
            if entry is None:
                recorder.close_intent(name)
            else:
                recorder.forget(name)  # its replace deleted it and deployed nothing of ours
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
            change.name, change.action, Outcome.SKIPPED, change.model_id, None, change.reason_text
        )
    return EntryOutcome(change.name, change.action, Outcome.UNCHANGED, change.model_id)


def _run_change(change: Change, context: ApplyContext, shared: Shared) -> EntryOutcome:
    if context.stop.is_set():
        return EntryOutcome(
            change.name,
            change.action,
            Outcome.NOT_STARTED,
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
        outcome = _failed(change, reason, exc.request_id)
    except ReconcilerError as exc:
        outcome = _failed(change, str(exc))  # e.g. the journal could not be written
    except Exception as exc:
        # A bug of ours must cost this entry, not the run: the others go on and the summary
        # stays complete. Only the type is shown: the message could carry request data.
        # An intent written before it stays open, so the next run looks the name up.
        outcome = _failed(
            change,
            f"internal error: {type(exc).__name__} (a bug in tensormesh-reconciler; please "
            "report it); the other entries went on, run apply again for this one",
        )
        log.debug("entry %s failed on an unexpected error", change.name, exc_info=True)
    context.progress(change.name, outcome.result.value)
    return outcome


def _failed(change: Change, reason: str, request_id: str | None = None) -> EntryOutcome:
    return EntryOutcome(
        change.name,
        change.action,
        Outcome.FAILED,
        change.model_id,
        reason=reason,
        request_id=request_id,
    )


def _delete(change: Change, context: ApplyContext) -> EntryOutcome:
    assert change.recorded is not None
    user = change.recorded.user_id or context.users.default()
    context.api.delete_model(user, change.recorded.model_id)
    context.recorder.forget(change.name)
    return EntryOutcome(change.name, change.action, Outcome.DELETED, change.recorded.model_id)


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
    intent = shared.intents.ensure(change)
    if old is not None:
        context.progress(change.name, f"deleting old model {old[0]}")
        try:
            context.api.delete_model(old[1], old[0])
        except ApiError as exc:
            if is_definite_refusal(exc):
                # Nothing changed: no open intent may make the next plan say "look up".
                context.recorder.close_intent(change.name)
            raise
    try:
        live, owner = _deploy_once(desired, user, context, intent)
    except DeployRefusedError as refused:
        cause = refused.cause
        if isinstance(cause, CircuitOpenError):
            context.stop.set()  # the control plane looks down: start no new entries
        if old is not None:
            # The old model is deleted and nothing replaced it: forget it, so the next plan
            # says create (never a phantom noop on a deleted model, nor a lookup).
            context.recorder.forget(change.name)
            done = f"; the old model {old[0]} was deleted, so the entry is no longer recorded"
        else:
            context.recorder.close_intent(change.name)
            done = "; nothing was created"
        raise EntryFailedError(f"deploy refused: {cause}{done}", cause.request_id) from cause
    # Deployed by this run (its answer may have been lost: found with this attempt's nonce),
    # or found by name holding another run's mark of this state: adopted, never "created".
    adopted = owner is Ownership.THIS_STATE
    _record_entry(desired, live, user, context, assumed=adopted)
    deployed = Outcome.REPLACED if change.recorded is not None else Outcome.CREATED
    result = Outcome.ADOPTED if adopted else deployed
    return EntryOutcome(
        change.name,
        change.action,
        result,
        live.model_id,
        live.status,
        reason="found by name: created by another run of this state" if adopted else None,
        user_id=user,
    )


def _resume(
    change: Change, desired: DesiredModel, user: str, context: ApplyContext, listed: ListedByName
) -> EntryOutcome | LiveModel | None:
    """An earlier run was interrupted here (its intent is open): find what it left.

    Returns an outcome when nothing more is needed, a model of ours from an earlier
    manifest (to be replaced), or None to deploy as planned. A model holding the name
    without this state's mark is not ours: the entry fails, nothing is touched.
    """
    live = listed.find(user, desired.name)
    recorded = change.recorded
    if live is not None and recorded is not None and live.model_id == recorded.model_id:
        if change.fields:
            return None  # interrupted before its delete: replace as planned
        # The manifest is what is recorded: nothing to do but close the intent.
        context.recorder.record_entry(recorded)
        return EntryOutcome(
            change.name, Action.NOOP, Outcome.UNCHANGED, recorded.model_id, recorded.status
        )
    if live is None:
        return None
    owner = context.owner(live, context.open_nonce(change.name))
    if not owner.ours:
        # Names are unique: the interrupted create is not live, so its intent is settled.
        context.recorder.close_intent(change.name)
        raise EntryFailedError(foreign_message(desired.name, live.model_id))
    if live_differences(desired.spec, live.spec):
        # Our mark: an interrupted run of this state deployed this name, from a manifest
        # that has changed since. It is ours, so replace it (never a second model).
        context.progress(change.name, f"found {live.model_id} from an interrupted apply")
        return live
    _record_entry(desired, live, user, context, assumed=True)
    return EntryOutcome(
        change.name,
        change.action,
        Outcome.ADOPTED,
        live.model_id,
        live.status,
        reason="found by name after an interrupted apply",
        user_id=user,
    )


def _deploy_once(
    desired: DesiredModel, user: str, context: ApplyContext, intent: Intent
) -> tuple[LiveModel, Ownership]:
    """Deploy once; after a refusal or an unclear outcome, a model of ours found by name."""
    mark = Mark(context.lineage, intent.nonce) if intent.nonce else None
    request = DeployRequest(
        desired.name, user, desired.spec, context.secrets.get(desired.name, {}), mark=mark
    )
    for _ in range(MAX_RATE_LIMITED_ATTEMPTS):
        try:
            return context.api.deploy_model(request), Ownership.THIS_ATTEMPT
        except ApiRateLimitedError as exc:
            last: ApiError = exc
            found = _look_up(desired, user, context, intent, exc)
            if found is not None:
                return found
            if context.stop.is_set():
                break
        except ApiConflictError as exc:
            # Definite: our create did not happen, the name is held. Ours only with the mark;
            # then it is an existing model recorded: adopted, never "created".
            found = _look_up(desired, user, context, intent, exc)
            if found is not None:
                return found[0], Ownership.THIS_STATE
            context.recorder.close_intent(desired.name)
            raise EntryFailedError(
                f"deploy refused: the name {desired.name!r} is taken ({exc}), but no model of "
                "that name was found afterwards; nothing was recorded, run apply again",
                exc.request_id,
            ) from exc
        except ApiError as exc:
            if is_definite_refusal(exc):
                raise DeployRefusedError(exc) from exc
            if not isinstance(exc, UNCLEAR):
                raise
            found = _look_up(desired, user, context, intent, exc)
            if found is not None:
                return found
            raise EntryFailedError(
                f"deploy outcome unknown ({exc}) and no model named {desired.name!r} exists; "
                "nothing was recorded as deployed, run apply again",
                exc.request_id,
            ) from exc
    raise EntryFailedError(f"deploy refused: {last}", last.request_id)


def _look_up(
    desired: DesiredModel, user: str, context: ApplyContext, intent: Intent, cause: ApiError
) -> tuple[LiveModel, Ownership] | None:
    """The model holding the name, when it is ours and matches; None when the name is free.

    A holder without this state's mark, or ours with another spec, fails the entry and is
    left alone; our create then did not happen (names are unique), so the intent is closed.
    """
    context.progress(desired.name, f"{type(cause).__name__}; looking up by name")
    live = context.api.find_model_by_name(user, desired.name)
    if live is None:
        return None
    owner = context.owner(live, intent.nonce)
    if not owner.ours:
        context.recorder.close_intent(desired.name)
        raise EntryFailedError(foreign_message(desired.name, live.model_id), cause.request_id)
    differences = live_differences(desired.spec, live.spec)
    if differences:
        if owner is not Ownership.THIS_ATTEMPT:
            context.recorder.close_intent(desired.name)
        raise EntryFailedError(
            f"a model named {desired.name!r} already exists (model {live.model_id}) with a "
            f"different {', '.join(differences)}; it was not adopted. Delete it, or adopt it with "
            f"`state import {desired.name} {live.model_id}` and apply again"
        )
    return live, owner


def _record_entry(
    desired: DesiredModel, live: LiveModel, user: str, context: ApplyContext, *, assumed: bool
) -> None:
    """Record `live` as the entry; `assumed`: a model this run did not send the secrets to,
    whose fingerprints are then of the current values (a plan of it says so)."""
    values = context.secrets.get(desired.name, {})
    secrets = {
        ref.field: RecordedSecret(
            ref.as_manifest(),
            fingerprint_secret(context.salt, ref.field, values[ref.field])
            if ref.field in values
            else None,
            assumed=assumed,
        )
        for ref in desired.secrets
    }
    context.recorder.record_entry(
        RecordedEntry(
            name=desired.name,
            model_id=live.model_id,
            spec=desired.spec,
            spec_digest=desired.spec_digest,
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
        if outcome.result.deployed and outcome.status != STATUS_UP
    }
    started = clock()
    deadline = started + options.wait_timeout
    interval = options.poll_interval
    last_seen: dict[str, LiveModel] = {}
    last_beat = started
    while pending and not context.stop.is_set():
        if clock() - last_beat >= options.heartbeat_interval:
            last_beat = clock()
            names = ", ".join(sorted(pending)[:5]) + (" …" if len(pending) > 5 else "")
            context.heartbeat(
                f"still waiting for {len(pending)} model(s) to be {STATUS_UP} after "
                f"{last_beat - started:.0f}s (of --wait-timeout {options.wait_timeout:g}s): {names}"
            )
        users = {outcome.user_id or context.users.default() for outcome in pending.values()}
        live_by_id: dict[str, LiveModel] = {}
        try:
            for user in users:
                live_by_id.update({m.model_id: m for m in context.api.list_models(user)})
        except ApiError as exc:
            for name, outcome in pending.items():
                outcomes[name] = replace(
                    outcome, result=Outcome.FAILED, reason=f"deployed, but waiting failed: {exc}"
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
                reason = f"model became {live.status}{_why_failed(context, live, outcome)}"
                # Remembered: the next plan replaces it, so a re-run CI job is not green.
                context.recorder.record_failure(name, reason)
                outcomes[name] = replace(
                    outcome, result=Outcome.FAILED, status=live.status, reason=reason
                )
                del pending[name]
        if not pending:
            break
        if clock() + interval > deadline:
            for name, outcome in pending.items():
                seen = last_seen.get(name)
                reason = f"not {STATUS_UP} within {options.wait_timeout:g}s" + (
                    _events(seen) if seen else ""
                )
                context.recorder.record_failure(name, reason)
                outcomes[name] = replace(outcome, result=Outcome.FAILED, reason=reason)
            return outcomes
        sleep(interval)
        interval = min(interval * 1.5, options.max_poll_interval)
    return outcomes


def _is_failed(status: str) -> bool:
    return status == STATUS_DELETED or drift.is_failed_status(status)


def _why_failed(context: ApplyContext, live: LiveModel, outcome: EntryOutcome) -> str:
    """The deployment's latest log lines; its events when the API has no logs."""
    if live.status == STATUS_DELETED:
        return _events(live)
    user = outcome.user_id or context.users.default()
    lines = failure_logs.read_failure_logs(context.api, live, user_id=user)
    return failure_logs.describe(lines) if lines else _events(live)


def _events(live: LiveModel) -> str:
    recent = [event.log for event in live.events[-3:] if event.log]
    return f"; recent events: {' | '.join(recent)}" if recent else ""
