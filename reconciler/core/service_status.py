"""What the status page shows: one row per deployment and one per recent pass.

Pure: built from what a pass already saw (desired, recorded, live, drift, plan) and did (its
apply result); never calls the API. Rows carry only display fields (names, statuses, model
IDs, endpoints, times): never a spec, so never a secret or an apiKey.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from reconciler.core.drift import Drift
from reconciler.core.model import Action, Change, DesiredModel, DriftKind, LiveModel, Plan, State
from reconciler.core.money import format_amount
from reconciler.core.outcome import ApplyResult, EntryOutcome, Outcome
from reconciler.core.pass_report import PassReport
from reconciler.core.spend import Spend, describe_spend


class SyncStatus(enum.Enum):
    SYNCED = "synced"
    OUT_OF_SYNC = "out of sync"
    MISSING = "missing"
    FAILED = "failed"
    UNMANAGED = "unmanaged"


_BY_DRIFT = {
    DriftKind.MISSING: SyncStatus.MISSING,
    DriftKind.FAILED: SyncStatus.FAILED,
    DriftKind.CHANGED: SyncStatus.OUT_OF_SYNC,
    DriftKind.UNMANAGED: SyncStatus.UNMANAGED,
}

# The hourly cost of one deployment where known (the cost issue's pricing); None: unknown.
CostOf = Callable[[str], str | None]


def cost_from_spend(spend: Spend | None) -> CostOf:
    """Each running managed model's hourly amount as the pass priced it ("12.50 USD/h").

    Only what the pass's spend priced: a model not running (missing, failed, deleted) costs
    nothing per hour, and one whose price is unknown is shown as unknown, never as zero.
    """
    by_name = spend.by_name if spend is not None else {}

    def cost_of(name: str) -> str | None:
        money = by_name.get(name)
        return None if money is None else f"{format_amount(money.nanos)} {money.currency}/h"

    return cost_of


def spend_summary(spend: Spend | None) -> str | None:
    """The pass's total live spend in one line, per currency; None when not looked at."""
    return None if spend is None else describe_spend(spend)


@dataclass(frozen=True, slots=True)
class DeploymentRow:
    name: str
    sync: SyncStatus
    live_status: str | None
    model_id: str | None
    endpoint: str | None
    last_change: str | None
    hourly_cost: str | None = None
    detail: str | None = None  # why it is not synced (drifted fields, a failure), if known


@dataclass(frozen=True, slots=True)
class PassRow:
    number: int
    finished_at: float  # unix seconds
    duration: float
    ok: bool
    drift: int
    corrections: int
    revision: str | None
    error: str | None
    interrupted: bool = False

    @property
    def outcome(self) -> str:
        if self.interrupted:
            return "interrupted"
        return "ok" if self.ok else "failed"


def pass_row(report: PassReport, *, finished_at: float, duration: float) -> PassRow:
    return PassRow(
        number=report.number,
        finished_at=finished_at,
        duration=duration,
        ok=report.ok,
        drift=len(report.drift),
        corrections=len(report.corrections),
        revision=report.revision,
        error=report.error,
        interrupted=report.interrupted,
    )


def deployment_rows(
    desired: Sequence[DesiredModel],
    state: State,
    live: Sequence[LiveModel],
    *,
    drift: Sequence[Drift],
    plan: Plan,
    result: ApplyResult | None,
    cost_of: CostOf | None = None,
) -> tuple[DeploymentRow, ...]:
    """Every deployment the manifests, the state or the live API know of, by name."""
    live_by_id = {model.model_id: model for model in live}
    drift_by_name = {item.name: item for item in drift}
    changes = {change.name: change for change in plan.changes}
    outcomes = {o.name: o for o in result.outcomes} if result is not None else {}
    names = {model.name for model in desired} | set(state.entries) | set(drift_by_name)
    rows = []
    for name in sorted(names):
        entry = state.entries.get(name)
        found = drift_by_name.get(name)
        outcome = outcomes.get(name)
        model_id = entry.model_id if entry is not None else None
        if found is not None and found.live_model_id is not None and entry is None:
            model_id = found.live_model_id
        if outcome is not None and outcome.model_id:
            model_id = outcome.model_id
        model = live_by_id.get(model_id) if model_id else None
        sync, detail = _sync(found, changes.get(name), outcome)
        if outcome is not None and outcome.result is Outcome.DELETED:
            model = None
        rows.append(
            DeploymentRow(
                name=name,
                sync=sync,
                live_status=_live_status(model, found, outcome),
                model_id=model_id,
                endpoint=_safe_endpoint(model.endpoint) if model is not None else None,
                last_change=(model.updated_at or model.created_at) if model is not None else None,
                hourly_cost=cost_of(name) if cost_of is not None else None,
                detail=detail,
            )
        )
    return tuple(rows)


def _sync(
    found: Drift | None, change: Change | None, outcome: EntryOutcome | None
) -> tuple[SyncStatus, str | None]:
    if outcome is not None and outcome.failed:
        return SyncStatus.FAILED, outcome.reason
    if outcome is not None and outcome.result.corrected:
        return SyncStatus.SYNCED, f"corrected this pass: {outcome.result.value}"
    if found is not None:
        fields = ", ".join(f for f in found.fields if not f.startswith("("))
        return _BY_DRIFT[found.kind], fields or found.detail or None
    if change is not None and change.action is not Action.NOOP and not change.skipped:
        return SyncStatus.OUT_OF_SYNC, f"the manifests ask to {change.action.value} it"
    return SyncStatus.SYNCED, None


def _live_status(
    model: LiveModel | None, found: Drift | None, outcome: EntryOutcome | None
) -> str | None:
    if outcome is not None and outcome.status:
        return outcome.status
    if model is not None:
        return model.status
    if found is not None and found.status is not None:
        return found.status
    return None


def _safe_endpoint(endpoint: str | None) -> str | None:
    """An endpoint without credentials: a `user:token@` part is never shown."""
    if not endpoint:
        return None
    parts = urlsplit(endpoint)
    if parts.username is None and parts.password is None:
        return endpoint
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def counts(rows: Sequence[DeploymentRow]) -> Mapping[SyncStatus, int]:
    out = dict.fromkeys(SyncStatus, 0)
    for row in rows:
        out[row.sync] += 1
    return out
