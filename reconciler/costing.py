"""Cost, wired: read the prices once per run (pricing API or --pricing FILE), price the plan,
check feasibility and the budget before any call that changes anything, warn on the balance.

Nothing here prints: warnings go to a callback. The deciding is core/cost.py and
core/budget.py; the reading is adapters/pricing.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from reconciler.adapters import pricing
from reconciler.core import budget, cost
from reconciler.core.errors import ReconcilerError, UsageError
from reconciler.core.model import Action, Plan
from reconciler.core.ports import ModelsApi
from reconciler.core.pricing import PriceList

NO_SOURCE = "no prices: TENSORMESH_CONTROL_PLANE_TOKEN is not set and no --pricing FILE was given"
Warn = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class CostOptions:
    pricing_file: str | None = None
    allow_unpriced: bool = False
    max_hourly_increase: budget.HourlyLimit | None = None
    min_balance_hours: Decimal = Decimal(24)


def load_prices(options: CostOptions, api: Callable[[], ModelsApi] | None) -> PriceList | str:
    """The price list, or why there is none. A bad --pricing FILE is an error; an API that
    fails to answer only leaves the cost unknown (the plan itself needs no API).

    `api`: the session's client (built on first use), None when there is no token to ask
    the pricing API with."""
    if options.pricing_file is not None:
        return _priced_or_why(pricing.read_pricing_file(options.pricing_file))
    if api is None:
        return NO_SOURCE
    try:
        client = api()
        if not isinstance(client, pricing.JsonReader):
            return "this API client cannot read prices"
        return _priced_or_why(pricing.fetch_prices(client))
    except UsageError:
        raise  # a bad token or URL is the command's error, not an unknown cost
    except ReconcilerError as exc:
        return f"the pricing API failed: {exc}"


def _priced_or_why(prices: PriceList) -> PriceList | str:
    # An empty list says nothing about what can be deployed (a gated or older account may
    # list none): the cost is unknown, never "no price for every GPU".
    return prices if prices.rows else f"{prices.source} lists no prices"


def price_plan(plan: Plan, options: CostOptions, prices: PriceList | str) -> cost.PlanCost:
    """The plan's cost; raises InfeasibleError for an unpriced deploy unless allowed."""
    if isinstance(prices, str):
        return cost.unknown_cost(prices)
    estimate = cost.estimate_plan(plan, prices)
    cost.check_feasible(estimate, allow_unpriced=options.allow_unpriced)
    return estimate


def vet_apply(plan: Plan, options: CostOptions, api: ModelsApi, *, warn: Warn) -> cost.PlanCost:
    """Before apply's first change: price, feasibility, budget, then the balance warning.

    Reads only (one pricing call, one balance call when something is deployed); a refusal
    raises before anything was changed.
    """
    estimate = price_plan(plan, options, load_prices(options, lambda: api))
    if not estimate.known:
        warn(f"cost unknown: {estimate.unknown_reason}")
    budget.check_budget(estimate, options.max_hourly_increase)
    deploys = any(
        c.action in (Action.CREATE, Action.REPLACE) and c.makes_api_call for c in plan.changes
    )
    if deploys and options.min_balance_hours > 0 and estimate.known:
        _warn_balance(estimate, options, api, warn)
    return estimate


def _warn_balance(
    estimate: cost.PlanCost, options: CostOptions, api: ModelsApi, warn: Warn
) -> None:
    if not isinstance(api, pricing.JsonReader):
        return
    try:
        balance = pricing.fetch_balance(api)
    except ReconcilerError as exc:
        # The deploy runs its own billing check; a balance we cannot read is only a note.
        warn(f"could not read the account balance: {exc}")
        return
    message = budget.balance_warning(balance, estimate, hours=options.min_balance_hours)
    if message is not None:
        warn(message)
