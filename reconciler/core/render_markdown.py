"""Plan as a pull-request comment: summary first, one collapsible section per change.

Never longer than MAX_CHARS: when the sections do not fit, the rest are listed by
name only, then counted, and the comment says how to see the full plan. Pure.
"""

from __future__ import annotations

import json
import re

from reconciler.core.cost import PlanCost
from reconciler.core.model import Action, Change, Plan
from reconciler.core.render_cost import change_difference, render_cost_markdown

MAX_CHARS = 60_000
MARKER = "<!-- tensormesh-reconciler plan -->"
_RESERVE = 600  # room kept for the truncation note and footer


def render_markdown(plan: Plan, *, max_chars: int = MAX_CHARS, cost: PlanCost | None = None) -> str:
    counts = plan.counts()
    changes = [c for c in plan.changes if c.action is not Action.NOOP]
    head = [
        MARKER,
        f"### Tensormesh plan: {counts[Action.CREATE]} to create, "
        f"{counts[Action.REPLACE]} to replace, {counts[Action.DELETE]} to delete, "
        f"{counts[Action.NOOP]} unchanged",
        "",
    ]
    if cost is not None:
        head.extend(render_cost_markdown(cost))
    head.extend(_warnings(plan))
    if plan.excluded:
        head += [f"> {plan.excluded} entries left out by --target/--exclude/--selector.", ""]
    if not plan.has_api_calls:
        # Never "the state matches" right after entries kept without --prune or lookups.
        quiet = not any(c.skipped for c in plan.changes) and not plan.lookups
        head.append(
            "No changes: the recorded state matches the manifests."
            if quiet
            else "No API calls to make."
        )
    budget = max_chars - _RESERVE - sum(len(line) + 1 for line in head)
    sections = [_section(change, change_difference(cost, change.name)) for change in changes]
    if sum(len(section) + 1 for section in sections) <= budget:
        body = sections
    else:
        body = _condensed(changes, sections, budget)
    footer = [
        "",
        f"<sub>{counts[Action.NOOP]} unchanged deployments not shown. "
        "Full plan: `tensormesh-reconciler plan PATH --state FILE` "
        "(text or `--output json`), or `tensormesh-reconciler show PLANFILE` "
        "for a plan saved with `--out`.</sub>",
    ]
    text = "\n".join([*head, *body, *footer]) + "\n"
    return text if len(text) <= max_chars else text[: max_chars - 20] + "\n…(truncated)\n"


def _warnings(plan: Plan) -> list[str]:
    replaced = [c.name for c in plan.changes if c.action is Action.REPLACE]
    deleted = [c.name for c in plan.changes if c.action is Action.DELETE and not c.skipped]
    kept = [c.name for c in plan.changes if c.skipped]
    lines = []
    if replaced or deleted:
        what = []
        if replaced:
            what.append(f"{len(replaced)} replaced (the running model is deleted first)")
        if deleted:
            what.append(f"{len(deleted)} deleted")
        names = ", ".join(f"`{name}`" for name in (*deleted, *replaced)[:20])
        more = " …" if len(replaced) + len(deleted) > 20 else ""
        lines += [f"> [!WARNING]\n> **Destructive:** {'; '.join(what)}: {names}{more}", ""]
    looked_up = [c.name for c in plan.lookups]
    if looked_up:
        lines += [
            f"> {len(looked_up)} interrupted by an earlier apply: will be looked up by name "
            "first: "
            + ", ".join(f"`{name}`" for name in looked_up[:20])
            + (" …" if len(looked_up) > 20 else ""),
            "",
        ]
    if kept:
        lines += [
            f"> {len(kept)} removed from the manifests but kept (no `--prune`): "
            + ", ".join(f"`{name}`" for name in kept[:20])
            + (" …" if len(kept) > 20 else ""),
            "",
        ]
    return lines


def _section(change: Change, cost_note: str = "") -> str:
    summary = f"<code>{change.action.symbol} {change.name}</code> {change.action.value}"
    if change.fields:
        summary += " (" + ", ".join(change.field_names) + ")"
    if change.action is Action.REPLACE and change.reason is not None:
        summary += f": {change.reason_text}"
    summary += cost_note
    lines = [f"<details><summary>{summary}</summary>", ""]
    if change.action is Action.CREATE and change.desired is not None:
        lines += [f"+ {k}: {_value(v)}" for k, v in sorted(change.desired.spec.items())]
        lines += [f"+ {r.field}: (secret from {r.describe()})" for r in change.desired.secrets]
    elif change.action is Action.DELETE:
        lines.append(f"- model {change.model_id}")
        if change.skipped:
            lines.append(f"  not deleted: {change.reason_text}")
    for field in change.fields:
        if field.secret:
            lines.append(f"! {field.field}: (secret) {', '.join(field.detail)}")
        else:
            lines += [
                f"- {field.field}: {_value(field.before)}",
                f"+ {field.field}: {_value(field.after)}",
            ]
    # A value holding backticks (a description) must not close the fence early.
    fence = "`" * max(3, _longest_backtick_run(lines[2:]) + 1)
    return "\n".join([*lines[:2], f"{fence}diff", *lines[2:], fence, "</details>"])


def _longest_backtick_run(lines: list[str]) -> int:
    runs = [len(run) for line in lines for run in re.findall(r"`+", line)]
    return max(runs, default=0)


def _condensed(changes: list[Change], sections: list[str], budget: int) -> list[str]:
    """Too much to show in full: every change on one line, then details while room is left,
    destructive changes first."""
    lines = ["", f"**{len(changes)} changes**, too many to show in full here:", ""]
    used = sum(len(line) + 1 for line in lines)
    listed = 0
    for change in changes:
        line = f"- `{change.action.symbol} {change.name}`"
        if change.fields:
            line += " (" + ", ".join(change.field_names) + ")"
        if used + len(line) + 1 > budget:
            break
        lines.append(line)
        used += len(line) + 1
        listed += 1
    if listed < len(changes):
        lines.append(f"- … and {len(changes) - listed} more")
        return lines
    lines.append("")
    order = sorted(range(len(changes)), key=lambda i: changes[i].action is Action.CREATE)
    for index in order:
        if used + len(sections[index]) + 1 > budget:
            break
        lines.append(sections[index])
        used += len(sections[index]) + 1
    return lines


def _value(value: object) -> str:
    return "(absent)" if value is None else json.dumps(value, sort_keys=True, ensure_ascii=False)
