"""Apply results for people (a per-entry table) and machines (JSON). Pure."""

from __future__ import annotations

from typing import Any

from reconciler.core.cost import PlanCost
from reconciler.core.model import Plan
from reconciler.core.outcome import ApplyResult, Outcome, counts_to_json
from reconciler.core.render_json import plan_to_json


def render_result(result: ApplyResult) -> str:
    counts = result.counts()
    head = (
        "Apply interrupted"
        if result.interrupted
        else ("Apply finished with failures" if result.failed else "Apply complete")
    )
    summary = ", ".join(f"{count} {outcome.value}" for outcome, count in counts.items())
    lines = [f"{head}: {summary or 'nothing to do'}."]
    rows = [o for o in result.outcomes if o.result is not Outcome.UNCHANGED]
    if rows:
        width = max(len(o.name) for o in rows)
        lines.append("")
        for outcome in rows:
            line = f"  {outcome.name:<{width}}  {outcome.result.value:<11}"
            if outcome.model_id:
                line += f"  model {outcome.model_id}"
            if outcome.status:
                line += f"  {outcome.status}"
            if outcome.reason and outcome.result is not Outcome.SKIPPED:
                line += f"\n  {'':<{width}}  reason: {outcome.reason}"
            if outcome.request_id and outcome.request_id not in (outcome.reason or ""):
                line += f" (request id {outcome.request_id})"
            lines.append(line)
    return "\n".join(lines) + "\n"


def result_to_json(plan: Plan, result: ApplyResult, cost: PlanCost | None = None) -> dict[str, Any]:
    document = plan_to_json(plan, cost)
    by_name = {outcome.name: outcome for outcome in result.outcomes}
    for change in document["changes"]:
        outcome = by_name.get(change["name"])
        if outcome is None:
            continue
        change["result"] = outcome.result.value
        if outcome.model_id:
            change["modelId"] = outcome.model_id
        if outcome.status:
            change["status"] = outcome.status
        if outcome.reason and outcome.result is not Outcome.SKIPPED:
            change["error"] = outcome.reason
        if outcome.request_id:
            change["requestId"] = outcome.request_id
    document["results"] = counts_to_json(result.counts())
    document["interrupted"] = result.interrupted
    document["failed"] = result.failed
    return document
