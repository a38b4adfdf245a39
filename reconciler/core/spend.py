"""Spend step: what the managed models running now cost per hour, per currency.

Pure: takes the live models already fetched and a price list (or why there is none).
Reconcile reports it each pass; the metrics carry it as a gauge.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from reconciler.core.cost import spec_cost
from reconciler.core.drift import is_failed_status
from reconciler.core.model import LiveModel, State
from reconciler.core.money import Money, sum_by_currency
from reconciler.core.pricing import PriceList


@dataclass(frozen=True, slots=True)
class Spend:
    """What the managed models running now cost per hour, per currency (reconcile reports it)."""

    hourly: Mapping[str, int]  # currency -> nanos per hour
    models: int = 0  # running managed models priced
    unpriced: tuple[str, ...] = ()  # running managed models whose price is unknown
    unknown_reason: str | None = None

    @property
    def known(self) -> bool:
        return self.unknown_reason is None


def live_spend(state: State, live: Sequence[LiveModel], prices: PriceList | str) -> Spend:
    """The hourly spend of the recorded models seen running (not deleted, not failed)."""
    if isinstance(prices, str):
        return Spend({}, unknown_reason=prices)
    names = {entry.model_id: entry.name for entry in state.entries.values()}
    running = [
        model
        for model in live
        if model.model_id in names and not model.is_deleted and not is_failed_status(model.status)
    ]
    costs: list[Money] = []
    unpriced: list[str] = []
    for model in sorted(running, key=lambda m: names[m.model_id]):
        priced = spec_cost(model.spec, prices, deployable=False)
        if isinstance(priced, Money):
            costs.append(priced)
        else:
            unpriced.append(names[model.model_id])
    return Spend(sum_by_currency(costs), len(costs), tuple(unpriced))
