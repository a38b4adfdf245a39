"""The plan: a pure function of (desired, recorded, options) giving one Change per name.

Decides by digest first; field-level detail is computed only for entries that
changed. Knows nothing of files, HTTP or secret values (only fingerprints).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from reconciler.core.diff import diff_specs
from reconciler.core.model import (
    Action,
    ActionReason,
    Change,
    DesiredModel,
    FieldChange,
    Plan,
    RecordedEntry,
    State,
)
from reconciler.core.selection import Selection

# name -> secret field -> keyed fingerprint of the value, or None when the value
# is not available here (for example a pull-request job without the secrets).
Fingerprints = Mapping[str, Mapping[str, str | None]]


def make_plan(
    desired: Sequence[DesiredModel],
    state: State,
    *,
    prune: bool,
    fingerprints: Fingerprints | None = None,
    force_replace: Collection[str] = (),
    selection: Selection | None = None,
) -> Plan:
    """Compare what the manifests want with what the state recorded.

    `force_replace`: names to replace although unchanged (`--replace`). `selection`: the
    entries this run may touch; the others are left out of the plan and only counted.
    """
    by_name = {model.name: model for model in desired}
    fingerprints = fingerprints or {}
    selection = selection or Selection()
    changes = []
    left_out = []
    for name in sorted(by_name.keys() | state.entries.keys()):
        model, entry = by_name.get(name), state.entries.get(name)
        if not selection.selects(name, None if model is None else model.labels):
            left_out.append(name)
            continue
        resume = name in state.intents
        if entry is None:
            assert model is not None
            changes.append(Change(name, Action.CREATE, desired=model, resume=resume))
        elif model is None:
            changes.append(
                Change(
                    name,
                    Action.DELETE,
                    model_id=entry.model_id,
                    reason=None if prune else ActionReason.PRUNE_NOT_GIVEN,
                    recorded=entry,
                )
            )
        else:
            fields = _changed_fields(model, entry, fingerprints.get(name, {}))
            # An open intent alone is no replace: apply looks the name up first and keeps
            # the recorded model when it is still live (shown as "will be looked up").
            reason = _replace_reason(entry, forced=name in force_replace)
            action = Action.REPLACE if fields or reason else Action.NOOP
            changes.append(
                Change(
                    name,
                    action,
                    model_id=entry.model_id,
                    fields=fields,
                    desired=model,
                    recorded=entry,
                    resume=resume,
                    reason=reason,
                )
            )
    return Plan(tuple(changes), left_out=tuple(left_out))


def unknown_names(
    desired: Sequence[DesiredModel], state: State, names: Collection[str]
) -> list[str]:
    """`--replace` names that are neither a manifest nor a recorded entry (a typo)."""
    known = {model.name for model in desired} | state.entries.keys()
    return sorted(name for name in names if name not in known)


def _replace_reason(entry: RecordedEntry, *, forced: bool) -> ActionReason | None:
    """Why an unchanged entry is replaced anyway: its last deploy failed, or --replace."""
    if entry.failed is not None:
        return ActionReason.TAINTED
    return ActionReason.REPLACE_BY_REQUEST if forced else None


def _changed_fields(
    model: DesiredModel, entry: RecordedEntry, fingerprints: Mapping[str, str | None]
) -> tuple[FieldChange, ...]:
    spec_changes = (
        () if model.spec_digest == entry.spec_digest else diff_specs(entry.spec, model.spec)
    )
    return tuple(
        sorted((*spec_changes, *_secret_changes(model, entry, fingerprints)), key=_by_field)
    )


def _by_field(change: FieldChange) -> str:
    return change.field


def _secret_changes(
    model: DesiredModel, entry: RecordedEntry, fingerprints: Mapping[str, str | None]
) -> list[FieldChange]:
    """Secrets compare by keyed fingerprint; only the field name is ever shown."""
    wanted = {ref.field: ref for ref in model.secrets}
    changes = []
    for field in sorted(wanted.keys() | entry.secrets.keys()):
        ref, recorded = wanted.get(field), entry.secrets.get(field)
        if ref is None:
            changes.append(FieldChange(field, secret=True, detail=("removed",)))
        elif recorded is None:
            changes.append(FieldChange(field, secret=True, detail=("added",)))
        else:
            current = fingerprints.get(field)
            if current is not None and recorded.fingerprint is not None:
                if current != recorded.fingerprint:
                    changes.append(FieldChange(field, secret=True, detail=("value changed",)))
            elif dict(recorded.ref) != ref.as_manifest():
                # Value unknown on one side: fall back to comparing the references.
                detail = f"reference changed to {ref.describe()} (value not compared)"
                changes.append(FieldChange(field, secret=True, detail=(detail,)))
    return changes
