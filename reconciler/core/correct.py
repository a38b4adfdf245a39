"""Correct step: turn detected drift into a plan the apply path can carry out, and judge
afterwards which drift was corrected. Pure: never calls the API, never reads files.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from reconciler.core.drift import Drift
from reconciler.core.model import Action, Change, DesiredModel, DriftKind, FieldChange, Plan
from reconciler.core.outcome import ApplyResult, EntryOutcome


class NotCorrected(enum.Enum):
    """Why a pass left a drift uncorrected; the value is the text reports show."""

    UNMANAGED = "unmanaged models are reported, never deleted"
    NOT_IN_MANIFESTS = "removed from the manifests: reconcile does not redeploy it"
    SELF_HEAL_OFF = "selfHeal is off"
    CHANGED_REPORTED = (
        "changed out of band: reported, not replaced (selfHeal: true on the entry or "
        "--heal-changed replaces it)"
    )
    DETECT_ONLY = "--detect-only: nothing is changed"
    NOT_RUN = "the pass stopped before this entry was corrected"
    FAILED = "the correction failed"  # shown as the apply's own failure reason


@dataclass(frozen=True, slots=True)
class DriftOutcome:
    """One drift and whether this pass corrected it (and if not, why).

    `error`: for NotCorrected.FAILED, why the apply failed (free text from the API).
    """

    drift: Drift
    corrected: bool
    reason: NotCorrected | None = None
    error: str | None = None

    @property
    def reason_text(self) -> str | None:
        if self.reason is NotCorrected.FAILED and self.error is not None:
            return self.error
        return None if self.reason is None else self.reason.value


def correction_plan(
    plan: Plan,
    drift: Sequence[Drift],
    desired: Sequence[DesiredModel],
    *,
    heal_changed: bool = False,
) -> Plan:
    """The plan with drifted, otherwise unchanged entries turned into replacements.

    A replacement deletes the recorded model first (already gone is fine) and deploys
    again. Missing and failed entries heal unless `selfHeal: false`; a running model that
    changed out of band is replaced only with `selfHeal: true` or `heal_changed` (a hand
    fix by on-call must not trigger a redeploy by surprise). Git-side changes stay as
    `plan` made them; unmanaged models never enter the plan.
    """
    policies = {model.name: model.policy for model in desired}
    by_name = {item.name: item for item in drift if item.kind is not DriftKind.UNMANAGED}
    changes = []
    for change in plan.changes:
        item = by_name.get(change.name)
        if item is not None:
            change = replace(change, drift=item.kind)
            policy = policies.get(change.name)
            changed = item.kind is DriftKind.CHANGED
            if change.action is Action.NOOP and policy is not None:
                if policy.heals(changed=changed, heal_changed=heal_changed):
                    change = replace(change, action=Action.REPLACE, fields=_drift_fields(item))
                elif changed:
                    # Reported only: still show what differs, live -> wanted.
                    change = replace(change, fields=_drift_fields(item))
        changes.append(change)
    return Plan(tuple(changes), left_out=plan.left_out, unmanaged=plan.unmanaged)


def _drift_fields(item: Drift) -> tuple[FieldChange, ...]:
    if item.kind is DriftKind.CHANGED and item.values:
        return tuple(
            FieldChange(
                value.field,
                before=value.live,
                after=value.wanted,
                detail=(
                    f"{value.field}: {_show(value.live)} live, changed out of band -> "
                    f"{_show(value.wanted)}",
                ),
            )
            for value in item.values
        )
    if item.kind is DriftKind.CHANGED:
        return tuple(
            FieldChange(field, detail=(f"{field}: changed live (out of band)",))
            for field in item.fields
        )
    return tuple(FieldChange(field, detail=(f"{field}: {item.detail}",)) for field in item.fields)


def _show(value: object) -> str:
    import json

    return "(absent)" if value is None else json.dumps(value, sort_keys=True)


def judge_corrections(
    drift: Sequence[Drift],
    plan: Plan,
    result: ApplyResult | None,
    *,
    desired: Sequence[DesiredModel],
    detect_only: bool,
    heal_changed: bool = False,
) -> tuple[DriftOutcome, ...]:
    """Pair each drift with its fate; `result` is None when nothing was carried out."""
    policies = {model.name: model.policy for model in desired}
    changes = {change.name: change for change in plan.changes}
    outcomes: Mapping[str, EntryOutcome] = (
        {} if result is None else {outcome.name: outcome for outcome in result.outcomes}
    )
    judged = []
    for item in drift:
        policy = policies.get(item.name)
        if item.kind is DriftKind.UNMANAGED:
            judged.append(DriftOutcome(item, False, NotCorrected.UNMANAGED))
        elif policy is None:
            judged.append(DriftOutcome(item, False, NotCorrected.NOT_IN_MANIFESTS))
        elif policy.self_heal is False:
            judged.append(DriftOutcome(item, False, NotCorrected.SELF_HEAL_OFF))
        elif not policy.heals(changed=item.kind is DriftKind.CHANGED, heal_changed=heal_changed):
            judged.append(DriftOutcome(item, False, NotCorrected.CHANGED_REPORTED))
        elif detect_only:
            judged.append(DriftOutcome(item, False, NotCorrected.DETECT_ONLY))
        else:
            judged.append(_judge(item, changes.get(item.name), outcomes.get(item.name)))
    return tuple(judged)


def _judge(item: Drift, change: Change | None, outcome: EntryOutcome | None) -> DriftOutcome:
    # No outcome: the pass failed or was stopped before it carried this entry out.
    if change is None or not change.makes_api_call or outcome is None:
        return DriftOutcome(item, False, NotCorrected.NOT_RUN)
    if outcome.failed:
        if not outcome.reason:
            return DriftOutcome(item, False, NotCorrected.NOT_RUN)
        return DriftOutcome(item, False, NotCorrected.FAILED, outcome.reason)
    return DriftOutcome(item, True)
