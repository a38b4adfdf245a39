"""The entry protocol: one entry's delete, or its deploy preceded by a durable intent and
followed at once by its recorded entry; a deploy is sent at most once per entry and run
(a 429 refusal excepted, and only after a lookup by name shows nothing was created)."""

from __future__ import annotations

import logging

from reconciler.apply.recovery import look_up, record_entry, resume
from reconciler.apply.shared import Shared
from reconciler.apply.types import (
    MAX_RATE_LIMITED_ATTEMPTS,
    UNCLEAR,
    ApplyContext,
    DeployRefusedError,
    EntryFailedError,
    is_definite_refusal,
)
from reconciler.core.errors import (
    ApiConflictError,
    ApiError,
    ApiRateLimitedError,
    CircuitOpenError,
    ReconcilerError,
)
from reconciler.core.model import Action, Change, DeployRequest, DesiredModel, Intent, LiveModel
from reconciler.core.outcome import EntryOutcome, Outcome
from reconciler.core.ownership import Mark, Ownership

log = logging.getLogger("reconciler.apply")


def run_change(change: Change, context: ApplyContext, shared: Shared) -> EntryOutcome:
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
        resumed = resume(change, desired, user, context, shared.listed)
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
    record_entry(desired, live, user, context, assumed=adopted)
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
            found = look_up(desired, user, context, intent, exc)
            if found is not None:
                return found
            if context.stop.is_set():
                break
        except ApiConflictError as exc:
            # Definite: our create did not happen, the name is held. Ours only with the mark;
            # then it is an existing model recorded: adopted, never "created".
            found = look_up(desired, user, context, intent, exc)
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
            found = look_up(desired, user, context, intent, exc)
            if found is not None:
                return found
            raise EntryFailedError(
                f"deploy outcome unknown ({exc}) and no model named {desired.name!r} exists; "
                "nothing was recorded as deployed, run apply again",
                exc.request_id,
            ) from exc
    raise EntryFailedError(f"deploy refused: {last}", last.request_id)
