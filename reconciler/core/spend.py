"""Spend step: what the managed models running now cost per hour, per currency.

Pure: takes the live models already fetched and a price list (or why there is none).
Reconcile reports it each pass; the metrics carry it as a gauge.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from reconciler.core.cost import spec_cost
from reconciler.core.drift import is_failed_status
from reconciler.core.model import LiveModel, State
from reconciler.core.money import Money, format_amount, sum_by_currency
from reconciler.core.pricing import PriceList


@dataclass(frozen=True, slots=True)
class Spend:
    """What the managed models running now cost per hour, per currency (reconcile reports it)."""

    hourly: Mapping[str, int]  # currency -> nanos per hour
    models: int = 0  # running managed models priced
    unpriced: tuple[str, ...] = ()  # running managed models whose price is unknown
    unknown_reason: str | None = None
    # Each priced model's own hourly amount, by entry name (the status page's cost column).
    by_name: Mapping[str, Money] = field(default_factory=dict)

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
    priced_by_name: dict[str, Money] = {}
    unpriced: list[str] = []
    for model in sorted(running, key=lambda m: names[m.model_id]):
        priced = spec_cost(model.spec, prices, deployable=False)
        if isinstance(priced, Money):
            priced_by_name[names[model.model_id]] = priced
        else:
            unpriced.append(names[model.model_id])
    costs = priced_by_name.values()
    return Spend(sum_by_currency(costs), len(costs), tuple(unpriced), by_name=priced_by_name)


def describe_spend(spend: Spend) -> str:
    """The spend in words, per currency: the reconcile text report and the status page."""
    if not spend.known:
        return f"unknown ({spend.unknown_reason})"
    amounts = ", ".join(
        f"{format_amount(nanos)} {currency}/h" for currency, nanos in sorted(spend.hourly.items())
    )
    text = f"{amounts or '0.00/h'} for {spend.models} running managed model(s)"
    if spend.unpriced:
        text += f"; price unknown for {', '.join(spend.unpriced)}"
    return text
