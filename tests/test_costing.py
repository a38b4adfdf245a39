"""The cost wiring with an in-memory billing API: one pricing read, file over API, failures
leave the cost unknown, the budget refuses before the balance is even read."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pytest

from reconciler import costing
from reconciler.core.budget import BudgetError, HourlyLimit
from reconciler.core.cost import InfeasibleError
from reconciler.core.errors import ApiServerError
from reconciler.core.plan import make_plan
from tests.support.builders import desired, state

PRICES = {
    "pricing": [
        {
            "gpuType": "GPU_TYPE_H100",
            "cloudProvider": "CLOUD_PROVIDER_NEBIUS",
            "hourlyRate": {"currencyCode": "USD", "units": "2", "nanos": 950000000},
            "isActive": True,
        }
    ]
}


class FakeBilling:
    """Answers the two billing reads from a table; records every path read."""

    def __init__(self, answers: Mapping[str, Any]) -> None:
        self.answers = dict(answers)
        self.reads: list[str] = []

    def read_json(
        self, path: str, *, call: str, params: Mapping[str, str] | None = None
    ) -> Mapping[str, Any]:
        self.reads.append(path)
        answer = self.answers[path]
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[no-any-return]


def _plan(*names: str, **spec: Any):
    return make_plan([desired(name, **spec) for name in names], state(), prune=False)


def test_one_read_prices_the_whole_plan() -> None:
    api = FakeBilling({"/v1/billing/gpu-pricing": PRICES})
    prices = costing.load_prices(costing.CostOptions(), lambda: api)  # type: ignore[arg-type,return-value]
    cost = costing.price_plan(_plan("a", "b", "c"), costing.CostOptions(), prices)
    assert api.reads == ["/v1/billing/gpu-pricing"]
    assert cost.totals[0].after == 3 * 2_950_000_000


def test_a_pricing_file_wins_and_no_call_is_made(tmp_path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps(PRICES), encoding="utf-8")
    api = FakeBilling({})
    options = costing.CostOptions(pricing_file=str(path))
    prices = costing.load_prices(options, lambda: api)  # type: ignore[arg-type,return-value]
    assert not isinstance(prices, str) and api.reads == []


def test_without_a_source_or_with_a_failing_api_the_cost_is_unknown() -> None:
    assert costing.load_prices(costing.CostOptions(), None) == costing.NO_SOURCE
    failing = FakeBilling({"/v1/billing/gpu-pricing": ApiServerError("GET pricing", status=503)})
    why = costing.load_prices(costing.CostOptions(), lambda: failing)  # type: ignore[arg-type,return-value]
    assert isinstance(why, str) and why.startswith("the pricing API failed: GET pricing failed")
    assert not costing.price_plan(_plan("a"), costing.CostOptions(), why).known


def test_infeasible_unless_allowed() -> None:
    api = FakeBilling({"/v1/billing/gpu-pricing": PRICES})
    plan = _plan("a", gpuType="GPU_TYPE_B200")
    prices = costing.load_prices(costing.CostOptions(), lambda: api)  # type: ignore[arg-type,return-value]
    with pytest.raises(InfeasibleError, match="a cannot be deployed"):
        costing.price_plan(plan, costing.CostOptions(), prices)
    allowed = costing.price_plan(plan, costing.CostOptions(allow_unpriced=True), prices)
    assert [c.name for c in allowed.unpriced] == ["a"]


def test_vet_refuses_over_budget_before_reading_the_balance() -> None:
    api = FakeBilling({"/v1/billing/gpu-pricing": PRICES, "/v1/billing/balance": {}})
    options = costing.CostOptions(max_hourly_increase=HourlyLimit(5_000_000_000))
    warnings: list[str] = []
    with pytest.raises(BudgetError, match=r"adds 5\.90 USD/h"):
        costing.vet_apply(_plan("a", "b"), options, api, warn=warnings.append)  # type: ignore[arg-type]
    assert api.reads == ["/v1/billing/gpu-pricing"] and warnings == []


def test_vet_warns_on_a_low_or_unreadable_balance() -> None:
    low = {"balance": {"currencyCode": "USD", "units": "5"}}
    api = FakeBilling({"/v1/billing/gpu-pricing": PRICES, "/v1/billing/balance": low})
    warnings: list[str] = []
    costing.vet_apply(_plan("a"), costing.CostOptions(), api, warn=warnings.append)  # type: ignore[arg-type]
    assert api.reads == ["/v1/billing/gpu-pricing", "/v1/billing/balance"]
    assert warnings == [
        "the account balance 5.00 USD covers 1.6 h of the new hourly total 2.95 USD/h, less "
        "than 24 h (--min-balance-hours); add funds before the models run dry"
    ]
    broken = FakeBilling(
        {"/v1/billing/gpu-pricing": PRICES, "/v1/billing/balance": ApiServerError("GET b")}
    )
    warnings.clear()
    costing.vet_apply(
        _plan("a"),
        costing.CostOptions(min_balance_hours=Decimal(1)),
        broken,  # type: ignore[arg-type]
        warn=warnings.append,
    )
    assert len(warnings) == 1 and warnings[0].startswith("could not read the account balance")
