"""Plan as JSON (contract §4): stable keys, sorted changes, no secret values."""

from __future__ import annotations

import json
from typing import Any

from reconciler.core import diff
from reconciler.core.cost import PlanCost
from reconciler.core.model import Action, Change, DesiredModel, FieldChange, Plan
from reconciler.core.render_cost import change_cost_to_json, plan_cost_to_json

PLAN_FORMAT_VERSION = 1


def plan_to_json(plan: Plan, cost: PlanCost | None = None) -> dict[str, Any]:
    document = {
        "changes": [change_to_json(change) for change in plan.changes],
        "formatVersion": PLAN_FORMAT_VERSION,
        "hasChanges": plan.has_api_calls,
        "summary": plan.summary(),
        # Entries --target/--exclude/--selector left out: neither changed nor counted above.
        "excluded": plan.excluded,
        # plan --refresh: live models no manifest or entry names (never deleted).
        "unmanaged": [{"name": name, "modelId": model_id} for name, model_id in plan.unmanaged],
    }
    if cost is not None:
        _add_cost(document, cost)
    return document


def _add_cost(document: dict[str, Any], cost: PlanCost) -> None:
    """`cost` per change and in the summary (contract §7); absent when nothing was priced."""
    document["summary"]["cost"] = plan_cost_to_json(cost)
    for change in document["changes"]:
        item = cost.changes.get(change["name"])
        if item is not None:
            change["cost"] = change_cost_to_json(item)


def change_to_json(change: Change) -> dict[str, Any]:
    out: dict[str, Any] = {"name": change.name, "action": change.action.value}
    if change.model_id is not None:
        out["modelId"] = change.model_id
    if change.fields:
        out["fields"] = list(change.field_names)
        out["fieldChanges"] = [field_to_json(field) for field in change.fields]
    if change.skipped:
        out["skipped"] = True
    if change.reason is not None:
        out["reason"] = change.reason_text
    if change.resume:
        out["resume"] = True
        # Apply looks the name up before anything else (an open intent alone is no change).
        out["lookup"] = True
    assumed = change.assumed_secrets
    if assumed:
        out["secretsAssumed"] = list(assumed)
    if change.drift:
        out["drift"] = change.drift.value
    if change.action in (Action.CREATE, Action.REPLACE) and change.desired is not None:
        out["desired"] = desired_to_json(change.desired)
    return out


def desired_to_json(model: DesiredModel) -> dict[str, Any]:
    """The Deploy Model request to be sent, for policy checks (OPA, conftest): secrets as
    their references (`{"fromEnv": NAME}`), never their values; without this state's mark."""
    out: dict[str, Any] = {**model.spec, "modelName": model.name}
    for ref in model.secrets:
        out[ref.field] = ref.as_manifest()
    return out


def field_to_json(change: FieldChange) -> dict[str, Any]:
    out: dict[str, Any] = {"field": change.field}
    if change.secret:
        out["secret"] = True
    else:
        out["before"] = change.before
        out["after"] = change.after
    if detail := diff.field_detail(change):
        out["detail"] = list(detail)
    return out


def dumps(document: Any) -> str:
    """Pretty, byte-stable JSON for stdout and files."""
    return json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
