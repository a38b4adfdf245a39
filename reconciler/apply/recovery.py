"""Recovery of open intents: what an interrupted or unclear deploy left, found by name.

A model found by name is adopted only when it carries this state's mark
(core/ownership.py); one this state does not own is never adopted, replaced or deleted."""

from __future__ import annotations

from collections.abc import Collection

from reconciler.apply.shared import ListedByName
from reconciler.apply.types import ApplyContext, EntryFailedError, Recorder
from reconciler.core.errors import ApiError
from reconciler.core.model import (
    Action,
    Change,
    DesiredModel,
    Intent,
    LiveModel,
    RecordedEntry,
    RecordedSecret,
    State,
)
from reconciler.core.outcome import EntryOutcome, Outcome
from reconciler.core.ownership import Ownership, foreign_message, judge
from reconciler.core.ports import ModelsApi
from reconciler.core.spec import fingerprint_secret, live_differences, spec_digest
from reconciler.session import UserIds


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


def resume(
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
    record_entry(desired, live, user, context, assumed=True)
    return EntryOutcome(
        change.name,
        change.action,
        Outcome.ADOPTED,
        live.model_id,
        live.status,
        reason="found by name after an interrupted apply",
        user_id=user,
    )


def look_up(
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


def record_entry(
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
