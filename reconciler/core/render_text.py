"""Plan as text for people, in the spirit of `terraform plan`.

Summary line first, then each change with `+`, `-/+`, `-` and field-level
before -> after. Colour is decided by the caller (terminal, NO_COLOR).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from reconciler.core import diff
from reconciler.core.cost import PlanCost
from reconciler.core.model import Action, Change, DriftKind, FieldChange, Plan
from reconciler.core.render_cost import render_cost_text

_COLOURS = {Action.CREATE: "32", Action.REPLACE: "33", Action.DELETE: "31", Action.NOOP: "0"}


LEGEND = (
    "Symbols: + create a new model; -/+ replace: delete the running model, then deploy a new "
    "one; - delete; ~ drift reported, not corrected."
)
REPLACE_COST = (
    "the running model is deleted first (downtime until the new one is UP); the new model "
    "gets a new model ID, endpoint and apiKey"
)


def render_plan(plan: Plan, *, color: bool = False, cost: PlanCost | None = None) -> str:
    paint = _painter(color)
    lines = [summary_line(plan), ""]
    shown = False
    for change in plan.changes:
        if change.action is Action.NOOP and not change.resume and not change.drift:
            continue
        lines.extend(_render_change(change, paint))
        lines.append("")
        shown = True
    for name, model_id in plan.unmanaged:
        lines.append(f"~ {name} (model {model_id}): unmanaged, live but in no manifest; left alone")
        shown = True
    if plan.unmanaged:
        lines.append("")
    if not plan.has_api_calls:
        lines.append(_nothing_to_do(plan))
    if shown:
        if lines[-1]:
            lines.append("")
        lines.append(LEGEND)
    lines.extend(_assumed_note(plan))
    if cost is not None:
        if lines[-1]:
            lines.append("")
        lines.extend(render_cost_text(plan, cost))
    return "\n".join(lines).rstrip("\n") + "\n"


def _nothing_to_do(plan: Plan) -> str:
    """The closing line of a plan that makes no API call: never a bare "No changes" when
    something was found (entries kept without --prune, lookups, drift left alone)."""
    lookups = len(plan.lookups)
    kept = sum(1 for change in plan.changes if change.skipped)
    notes = []
    if kept:
        notes.append(
            f"{kept} removed {'entry is' if kept == 1 else 'entries are'} kept (give --prune "
            "to delete)"
        )
    if lookups:
        notes.append(
            f"{lookups} interrupted {'entry' if lookups == 1 else 'entries'} will be looked up "
            "by name"
        )
    if any(change.drift for change in plan.changes) or plan.unmanaged:
        notes.append("live drift is reported above")
    if notes:
        return "No API calls to make: " + "; ".join(notes) + "."
    return "No changes. The recorded state matches the manifests."


def render_destructive(plan: Plan) -> str:
    """The part of a plan that deletes or replaces running models: what a confirmation shows."""
    lines = [f"This run deletes or replaces {len(plan.destructive)} running model(s):", ""]
    for change in plan.destructive:
        lines.extend(_render_change(change, _painter(False)))
        lines.append("")
    return "\n".join(lines)


def _assumed_note(plan: Plan) -> list[str]:
    adopted = [
        f"{c.name} ({', '.join(c.assumed_secrets)})" for c in plan.changes if c.assumed_secrets
    ]
    if not adopted:
        return []
    return [
        "",
        "Note: secrets of adopted models are assumed, not verified (recorded when adopted, "
        f"not sent by this state): {', '.join(adopted)}.",
    ]


def summary_line(plan: Plan) -> str:
    counts = plan.counts()
    skipped = sum(1 for change in plan.changes if change.skipped)
    text = (
        f"Plan: {counts[Action.CREATE]} to create, {counts[Action.REPLACE]} to replace, "
        f"{counts[Action.DELETE]} to delete, {counts[Action.NOOP]} unchanged"
    )
    if skipped:
        text += f", {skipped} removed but kept (no --prune)"
    if plan.excluded:
        text += f", {plan.excluded} left out (--target/--exclude/--selector)"
    return text + "."


def _render_change(change: Change, paint: Callable[[Action, str], str]) -> list[str]:
    head = f"{change.action.symbol} {change.name}"
    if change.model_id:
        head += f" (model {change.model_id})"
    if change.action is Action.REPLACE:
        head += " will be replaced"
        if change.drift:
            head += f" (drift: {change.drift.value})"
        if change.reason is not None:
            head += f": {change.reason_text}"
    elif change.action is Action.NOOP and change.drift and not change.resume:
        head = f"~ {change.name}" + (f" (model {change.model_id})" if change.model_id else "")
        head += f": drift {change.drift.value}, reported only"
    elif change.action is Action.NOOP:
        head += " will be looked up"
    elif change.action is Action.CREATE:
        head += " will be created"
    elif change.skipped:
        head += f": not deleted, {change.reason_text}"
    else:
        head += " will be deleted"
    lines = [paint(change.action, head)]
    if change.action is Action.NOOP and change.drift and not change.resume:
        pass
    elif change.action is Action.NOOP:
        lines.append(
            "    (an earlier apply was interrupted here: nothing is deployed while the recorded "
            "model is live)"
        )
    elif change.resume:
        lines.append("    (an earlier apply was interrupted here: will be looked up by name first)")
    if change.action is Action.CREATE and change.desired is not None:
        for key, value in sorted(change.desired.spec.items()):
            lines.append(f"    {key}: {_value(value)}")
        for ref in change.desired.secrets:
            lines.append(f"    {ref.field}: (secret from {ref.describe()})")
    for field in change.fields:
        lines.extend(_render_field(field))
    if change.action is Action.REPLACE:
        forcing = [name for name in change.field_names if not name.startswith("(")]
        if forcing:
            lines.append(f"    forces replacement: {', '.join(forcing)}")
        if change.drift is DriftKind.MISSING:
            lines.append(
                "    cost: the recorded model is gone; the new one gets a new model ID, "
                "endpoint and apiKey"
            )
        else:
            lines.append(f"    cost: {REPLACE_COST}")
    return lines


def _render_field(change: FieldChange) -> list[str]:
    if change.secret:
        return [f"    {change.field}: (secret) {', '.join(change.detail)}"]
    if detail := diff.field_detail(change):
        return [f"    {line}" for line in detail]
    return [f"    {change.field}: {_value(change.before)} -> {_value(change.after)}"]


def _value(value: Any) -> str:
    if value is None:
        return "(absent)"
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _painter(color: bool) -> Callable[[Action, str], str]:
    def paint(action: Action, text: str) -> str:
        if not color or action is Action.NOOP:
            return text
        return f"\x1b[{_COLOURS[action]}m{text}\x1b[0m"

    return paint
