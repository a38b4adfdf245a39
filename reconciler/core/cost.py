"""Cost step: what a plan does to the hourly GPU bill, per change and per currency.

Pure: takes the plan and a price list already read. A model costs gpuCount x the hourly
rate of its gpuType on its cloudProvider. Sums are exact (integer nanos) and kept per
currency; an entry whose price is unknown is listed, never guessed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.core.errors import ReconcilerError
from reconciler.core.model import Action, Change, DriftKind, Plan
from reconciler.core.money import Money
from reconciler.core.pricing import PriceList, Rate

HOURS_PER_MONTH = 730
# Drift kinds whose model no longer runs: recreating it adds its whole cost.
_GONE = (DriftKind.MISSING, DriftKind.FAILED)


@dataclass(frozen=True, slots=True)
class CostLine:
    """Hourly amounts of one currency before and after, in nanos."""

    currency: str
    before: int
    after: int

    @property
    def difference(self) -> int:
        return self.after - self.before


@dataclass(frozen=True, slots=True)
class ChangeCost:
    """One change's hourly cost; None on a side means nothing runs there."""

    name: str
    action: Action
    before: Money | None = None
    after: Money | None = None
    unknown: str | None = None  # why this entry's cost is not known (then before/after unused)
    calls: bool = True  # the change makes a call (a noop or a kept delete moves no bill)

    @property
    def lines(self) -> tuple[CostLine, ...]:
        if self.unknown is not None:
            return ()
        sides: dict[str, list[int]] = {}
        if self.before is not None:
            sides.setdefault(self.before.currency, [0, 0])[0] += self.before.nanos
        if self.after is not None:
            sides.setdefault(self.after.currency, [0, 0])[1] += self.after.nanos
        if not sides:
            return ()
        return tuple(CostLine(c, b, a) for c, (b, a) in sorted(sides.items()))

    def increase(self, currency: str) -> int:
        return sum(line.difference for line in self.lines if line.currency == currency)


@dataclass(frozen=True, slots=True)
class Infeasible:
    """A deploy the price list says cannot be made: no active price for its GPU there."""

    name: str
    location: str
    reason: str


@dataclass(frozen=True, slots=True)
class PlanCost:
    """The plan's cost; `unknown_reason` set means no price list was available at all."""

    changes: Mapping[str, ChangeCost]
    source: str = ""
    unknown_reason: str | None = None
    infeasible: tuple[Infeasible, ...] = ()

    @property
    def known(self) -> bool:
        return self.unknown_reason is None

    @property
    def totals(self) -> tuple[CostLine, ...]:
        """Per currency, sorted; entries of unknown cost are left out (see `unpriced`)."""
        before: dict[str, int] = {}
        after: dict[str, int] = {}
        for cost in self.changes.values():
            for line in cost.lines:
                before[line.currency] = before.get(line.currency, 0) + line.before
                after[line.currency] = after.get(line.currency, 0) + line.after
        return tuple(CostLine(c, before[c], after[c]) for c in sorted(before))

    @property
    def unpriced(self) -> tuple[ChangeCost, ...]:
        return tuple(c for c in self.changes.values() if c.unknown is not None)

    def after_total(self, currency: str) -> int:
        return sum(line.after for line in self.totals if line.currency == currency)


def unknown_cost(reason: str) -> PlanCost:
    return PlanCost({}, unknown_reason=reason)


def estimate_plan(plan: Plan, prices: PriceList) -> PlanCost:
    """Every change's hourly cost before and after the plan, and the deploys it forbids."""
    costs: dict[str, ChangeCost] = {}
    infeasible: list[Infeasible] = []
    for change in plan.changes:
        cost, blocked = _change_cost(change, prices)
        costs[change.name] = cost
        if blocked is not None:
            infeasible.append(blocked)
    return PlanCost(costs, source=prices.source, infeasible=tuple(infeasible))


def _change_cost(change: Change, prices: PriceList) -> tuple[ChangeCost, Infeasible | None]:
    before: Money | Rate | None = None
    if change.recorded is not None and change.drift not in _GONE:
        before = spec_cost(change.recorded.spec, prices, deployable=False)
    after: Money | Rate | None
    blocked = None
    deploys = change.action in (Action.CREATE, Action.REPLACE) and not change.skipped
    if deploys and change.desired is not None:
        after = spec_cost(change.desired.spec, prices, deployable=True)
        if isinstance(after, Rate):
            location = str(change.desired.location)
            blocked = Infeasible(change.name, location, after.why_unknown)
    elif change.action is Action.DELETE and not change.skipped:
        after = None
    else:
        after = before  # unchanged, kept, or interrupted: what runs keeps running
    calls = change.makes_api_call
    for side in (before, after):
        if isinstance(side, Rate):
            unknown = ChangeCost(change.name, change.action, unknown=side.why_unknown, calls=calls)
            return unknown, blocked
    assert not isinstance(before, Rate) and not isinstance(after, Rate)
    return ChangeCost(change.name, change.action, before, after, calls=calls), blocked


def spec_cost(spec: Mapping[str, Any], prices: PriceList, *, deployable: bool) -> Money | Rate:
    """gpuCount x the rate of the spec's gpuType on its cloudProvider, or why unknown."""
    gpu_type, count = spec.get("gpuType"), spec.get("gpuCount", 1)
    infra = spec.get("infra")
    provider = infra.get("cloudProvider") if isinstance(infra, Mapping) else None
    if not isinstance(gpu_type, str) or not isinstance(provider, str):
        return Rate(None, "the spec names no gpuType or cloudProvider")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        return Rate(None, f"gpuCount {count!r} is not a positive integer")
    rate = prices.rate(provider, gpu_type, deployable=deployable)
    if rate.hourly is None:
        return Rate(None, f"{gpu_type} on {provider}: {rate.why_unknown}")
    return rate.hourly.times(count)


def monthly(nanos: int) -> int:
    return nanos * HOURS_PER_MONTH


class InfeasibleError(ReconcilerError):
    """A deploy of a GPU type with no active price on its provider: it cannot be made there."""


def check_feasible(cost: PlanCost, *, allow_unpriced: bool) -> None:
    """Raise InfeasibleError naming every entry that cannot be deployed, unless allowed."""
    if allow_unpriced or not cost.infeasible:
        return
    lines = [
        f"{item.location}: {item.name} cannot be deployed: {item.reason}"
        for item in cost.infeasible
    ]
    raise InfeasibleError(
        "\n".join(lines)
        + "\nChoose a gpuType and cloudProvider with an active price, or pass --allow-unpriced "
        "to deploy without a known price"
    )
