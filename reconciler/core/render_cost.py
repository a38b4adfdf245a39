"""The plan's cost for people (a table and total lines) and machines (JSON objects).

Pure. Amounts are exact decimal strings next to their currency; currencies are never summed.
"""

from __future__ import annotations

from typing import Any

from reconciler.core.cost import HOURS_PER_MONTH, ChangeCost, CostLine, PlanCost, monthly
from reconciler.core.model import Action, Plan
from reconciler.core.money import Money, format_amount

_HEADER = ("CHANGE", "BEFORE/H", "AFTER/H", "DIFFERENCE/H")


def change_cost_to_json(cost: ChangeCost) -> dict[str, Any]:
    if cost.unknown is not None:
        return {"known": False, "reason": cost.unknown}
    return {"known": True, "hourly": [_line_json(line, hourly=True) for line in cost.lines]}


def plan_cost_to_json(cost: PlanCost) -> dict[str, Any]:
    if not cost.known:
        return {"known": False, "reason": cost.unknown_reason}
    totals = cost.totals
    return {
        "known": True,
        "source": cost.source,
        "hoursPerMonth": HOURS_PER_MONTH,
        "hourly": [_line_json(line, hourly=True) for line in totals],
        "monthly": [_line_json(line, hourly=False) for line in totals],
        "unpriced": [{"name": c.name, "reason": c.unknown} for c in cost.unpriced],
    }


def _line_json(line: CostLine, *, hourly: bool) -> dict[str, str]:
    scale = 1 if hourly else HOURS_PER_MONTH
    return {
        "currency": line.currency,
        "before": format_amount(line.before * scale),
        "after": format_amount(line.after * scale),
        "difference": format_amount(line.difference * scale, signed=True),
    }


def render_cost_text(plan: Plan, cost: PlanCost) -> list[str]:
    """A cost column per create/replace/delete, then one total line per currency."""
    if not cost.known:
        return [f"Cost: unknown ({cost.unknown_reason})."]
    rows: list[tuple[str, str, str, str]] = []
    for change in plan.changes:
        if change.action is Action.NOOP or change.skipped or change.name not in cost.changes:
            continue
        item = cost.changes[change.name]
        label = f"{change.action.symbol} {change.name}"
        if item.unknown is not None:
            rows.append((label, "?", "?", f"unknown: {item.unknown}"))
        for line in item.lines:
            rows.append((label, *_cells(line, item)))
    lines = [f"Cost (prices from {cost.source}):"]
    if rows:
        # An unknown row's reason is free text after the table, not part of a column's width.
        priced = [row for row in [_HEADER, *rows] if not row[3].startswith("unknown")]
        widths = [max(len(row[i]) for row in [_HEADER, *rows]) for i in range(3)]
        widths.append(max(len(row[3]) for row in priced))
        for row in [_HEADER, *rows]:
            cells = [row[0].ljust(widths[0]), *(row[i].rjust(widths[i]) for i in (1, 2))]
            last = row[3] if row[3].startswith("unknown") else row[3].rjust(widths[3])
            lines.append("  " + "  ".join([*cells, last]).rstrip())
    lines.extend(total_lines(cost))
    return lines


def _cells(line: CostLine, item: ChangeCost) -> tuple[str, str, str]:
    before = "-" if item.before is None else _money(line.before, line.currency)
    after = "-" if item.after is None else _money(line.after, line.currency)
    return before, after, format_amount(line.difference, signed=True) + f" {line.currency}"


def total_lines(cost: PlanCost) -> list[str]:
    lines = [
        f"Total: {_money(t.before, t.currency)}/h -> {_money(t.after, t.currency)}/h "
        f"({format_amount(t.difference, signed=True)} {t.currency}/h); per month "
        f"({HOURS_PER_MONTH} h): {_money(monthly(t.before), t.currency)} -> "
        f"{_money(monthly(t.after), t.currency)} "
        f"({format_amount(monthly(t.difference), signed=True)} {t.currency})."
        for t in cost.totals
    ]
    if not lines:
        lines = ["Total: nothing priced runs before or after this plan."]
    if cost.unpriced:
        names = ", ".join(c.name for c in cost.unpriced)
        lines.append(f"Not in the totals (price unknown, --allow-unpriced): {names}.")
    return lines


def render_cost_markdown(cost: PlanCost) -> list[str]:
    """A short table for the top of a pull-request comment."""
    if not cost.known:
        return [f"Cost: unknown ({cost.unknown_reason}).", ""]
    lines = [
        "| cost | hourly before | hourly after | hourly difference | "
        f"monthly difference ({HOURS_PER_MONTH} h) |",
        "|---|--:|--:|--:|--:|",
    ]
    for t in cost.totals:
        lines.append(
            f"| {t.currency} | {format_amount(t.before)} | {format_amount(t.after)} | "
            f"{format_amount(t.difference, signed=True)} | "
            f"{format_amount(monthly(t.difference), signed=True)} |"
        )
    if not cost.totals:
        lines.append("| - | 0.00 | 0.00 | 0.00 | 0.00 |")
    lines.append("")
    if cost.unpriced:
        names = ", ".join(f"`{c.name}`" for c in cost.unpriced[:20])
        lines += [f"> Price unknown, not in the totals: {names}", ""]
    return lines


def change_difference(cost: PlanCost | None, name: str) -> str:
    """` (+2.95 USD/h)` for a change's markdown line, or nothing."""
    item = None if cost is None else cost.changes.get(name)
    if item is None:
        return ""
    if item.unknown is not None:
        return " (cost unknown)"
    parts = [
        f"{format_amount(line.difference, signed=True)} {line.currency}/h" for line in item.lines
    ]
    return f" ({', '.join(parts)})" if parts else ""


def _money(nanos: int, currency: str) -> str:
    return str(Money(currency, nanos))
