"""Budget step: refuse a plan whose hourly increase is over `--max-hourly-increase`, and warn
when the account balance would not cover the new hourly total for long.

Pure: takes the plan's cost and the balance already read; returns messages, decides nothing
else. A limit without a currency applies to each currency on its own (never summed across).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from reconciler.core.cost import PlanCost
from reconciler.core.errors import ReconcilerError
from reconciler.core.money import Money, format_amount

_CONTRIBUTORS = 3


class BudgetError(ReconcilerError):
    """The plan costs more per hour than allowed, or its cost cannot be checked."""


@dataclass(frozen=True, slots=True)
class HourlyLimit:
    nanos: int
    currency: str | None = None  # None: the same amount in every currency

    def __str__(self) -> str:
        return format_amount(self.nanos) + (f" {self.currency}" if self.currency else "")


def refusal(cost: PlanCost, limit: HourlyLimit) -> str | None:
    """Why the plan must not run under `limit`, or None when it may."""
    flag = f"--max-hourly-increase {limit}"
    if not cost.known:
        return f"cannot check {flag}: the cost is unknown ({cost.unknown_reason})"
    unpriced = [c for c in cost.unpriced if c.calls]
    if unpriced:
        names = ", ".join(f"{c.name} ({c.unknown})" for c in unpriced[:_CONTRIBUTORS])
        return f"cannot check {flag}: the cost of {len(unpriced)} change(s) is unknown: {names}"
    for line in cost.totals:
        if line.difference <= 0:
            continue
        if limit.currency is not None and line.currency != limit.currency:
            return (
                f"the plan adds {format_amount(line.difference)} {line.currency}/h, which "
                f"cannot be compared with {flag} (currencies are never converted)"
            )
        if line.difference > limit.nanos:
            return (
                f"the plan adds {format_amount(line.difference)} {line.currency}/h, more than "
                f"{flag} allows; biggest increases: {_contributors(cost, line.currency)}"
            )
    return None


def _contributors(cost: PlanCost, currency: str) -> str:
    ranked = sorted(
        (c for c in cost.changes.values() if c.increase(currency) > 0),
        key=lambda c: (-c.increase(currency), c.name),
    )
    return ", ".join(
        f"{c.name} ({c.action.value}, {format_amount(c.increase(currency), signed=True)} "
        f"{currency}/h)"
        for c in ranked[:_CONTRIBUTORS]
    )


def check_budget(cost: PlanCost, limit: HourlyLimit | None) -> None:
    """Raise BudgetError when the plan is over `limit`; nothing was called yet."""
    if limit is None:
        return
    why = refusal(cost, limit)
    if why is not None:
        raise BudgetError(f"refused before any change: {why}")


def balance_warning(balance: Money, cost: PlanCost, *, hours: Decimal) -> str | None:
    """A warning when `balance` covers less than `hours` of the plan's new hourly total."""
    if hours <= 0 or not cost.known:
        return None
    hourly = cost.after_total(balance.currency)
    if hourly <= 0 or balance.nanos >= hourly * hours:
        return None
    # Rounded down: a warning must not promise more hours than there are.
    covered = (Decimal(balance.nanos) / Decimal(hourly)).quantize(Decimal("0.1"), ROUND_DOWN)
    covered = max(covered, Decimal(0))
    return (
        f"the account balance {balance} covers {covered} h of the new hourly total "
        f"{format_amount(hourly)} {balance.currency}/h, less than {hours.normalize():f} h "
        "(--min-balance-hours); add funds before the models run dry"
    )
