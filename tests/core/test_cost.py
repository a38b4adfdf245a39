"""Table tests for the cost arithmetic: exact decimals, nanos, currencies kept apart, unpriced."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from reconciler.core import budget, cost
from reconciler.core.budget import HourlyLimit
from reconciler.core.model import Action, DriftKind
from reconciler.core.money import (
    Money,
    MoneyFormatError,
    format_amount,
    money_from_json,
    parse_amount,
)
from reconciler.core.plan import make_plan
from reconciler.core.pricing import PriceList, PricingError, parse_pricing
from tests.support.builders import desired, recorded, state


def row(provider: str, gpu: str, units: str, nanos: int, *, currency: str = "USD", active=True):
    rate = {"currencyCode": currency, "units": units, "nanos": nanos}
    return {"gpuType": gpu, "cloudProvider": provider, "hourlyRate": rate, "isActive": active}


NEBIUS, LAMBDA, YOTTA = "CLOUD_PROVIDER_NEBIUS", "CLOUD_PROVIDER_LAMBDA", "CLOUD_PROVIDER_YOTTA"
PRICES = parse_pricing(
    {
        "pricing": [
            row(NEBIUS, "GPU_TYPE_H100", "2", 950_000_000),
            row(NEBIUS, "GPU_TYPE_A100", "0", 100_000_000),
            row(NEBIUS, "GPU_TYPE_B200", "0", 1),
            row(LAMBDA, "GPU_TYPE_H200", "3", 290_000_000, active=False),
            row(YOTTA, "GPU_TYPE_H100", "2", 0, currency="EUR"),
        ]
    },
    source="test prices",
)


@pytest.mark.parametrize(
    ("nanos", "signed", "text"),
    [
        (0, False, "0.00"),
        (2_950_000_000, False, "2.95"),
        (1, False, "0.000000001"),
        (-1, False, "-0.000000001"),
        (1_817_700_000_000, False, "1817.70"),
        (2_950_000_000, True, "+2.95"),
        (0, True, "0.00"),
        (10**30, False, "1" + "0" * 21 + ".00"),
    ],
)
def test_format_amount(nanos: int, signed: bool, text: str) -> None:
    assert format_amount(nanos, signed=signed) == text


@pytest.mark.parametrize(
    ("obj", "nanos"),
    [
        ({"currencyCode": "USD", "units": "2", "nanos": 950_000_000}, 2_950_000_000),
        ({"currencyCode": "USD", "units": 2, "nanos": 0}, 2_000_000_000),
        ({"currencyCode": "USD", "units": "2"}, 2_000_000_000),  # zero nanos left out
        ({"currencyCode": "USD", "nanos": 5}, 5),  # zero units left out
        ({"currencyCode": "USD", "units": "-1", "nanos": -500_000_000}, -1_500_000_000),
        ({"currencyCode": "USD", "units": "9223372036854775807", "nanos": 999_999_999}, None),
    ],
)
def test_money_from_json_is_exact(obj: dict, nanos: int | None) -> None:
    money = money_from_json(obj, where="$")
    expected = nanos if nanos is not None else (2**63 - 1) * 10**9 + 999_999_999
    assert money == Money("USD", expected)
    assert money.amount == Decimal(format_amount(expected))


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({"currencyCode": "USD", "units": "1", "nanos": 1_000_000_000}, "outside"),
        ({"currencyCode": "USD", "units": "1", "nanos": 10**30}, "outside"),
        ({"currencyCode": "USD", "units": "1", "nanos": -5}, "different signs"),
        ({"currencyCode": "USD", "units": "1", "nanos": 0.5}, "not an integer"),
        ({"currencyCode": "USD", "units": "1", "nanos": True}, "not an integer"),
        ({"currencyCode": "USD", "units": 1.5}, "not an integer"),
        ({"currencyCode": "USD", "units": "NaN"}, "not an int64"),
        ({"currencyCode": "USD", "units": "1e3"}, "not an int64"),
        ({"currencyCode": "USD", "units": "99999999999999999999"}, "not an int64"),
        ({"currencyCode": "usd", "units": "1"}, "ISO 4217"),
        ({"units": "1"}, "ISO 4217"),
        ("2.95", "must be an object"),
    ],
)
def test_money_from_json_refuses(obj: object, message: str) -> None:
    with pytest.raises(MoneyFormatError, match=message):
        money_from_json(obj, where="$.x")


@pytest.mark.parametrize(
    ("text", "nanos", "currency"),
    [
        ("10", 10_000_000_000, None),
        ("12.50 USD", 12_500_000_000, "USD"),
        ("EUR 0.000000001", 1, "EUR"),
        ("0.1", 100_000_000, None),
        ("9223372036854775806.5", 9223372036854775806_500_000_000, None),
    ],
)
def test_parse_amount(text: str, nanos: int, currency: str | None) -> None:
    assert parse_amount(text) == (nanos, currency)


@pytest.mark.parametrize(
    "text", ["", "ten", "1.0000000001", "NaN", "inf", "USD 1 EUR", "1e3", "9223372036854775808"]
)
def test_parse_amount_refuses(text: str) -> None:
    with pytest.raises(MoneyFormatError):
        parse_amount(text)


def test_rates_active_inactive_and_missing() -> None:
    assert PRICES.rate(NEBIUS, "GPU_TYPE_H100", deployable=True).hourly == Money(
        "USD", 2_950_000_000
    )
    retired = PRICES.rate(LAMBDA, "GPU_TYPE_H200", deployable=True)
    assert retired.hourly is None and "inactive" in retired.why_unknown
    running = PRICES.rate(LAMBDA, "GPU_TYPE_H200", deployable=False)
    assert running.hourly == Money("USD", 3_290_000_000) and running.inactive
    missing = PRICES.rate(LAMBDA, "GPU_TYPE_A100", deployable=False)
    assert missing.hourly is None and "no price" in missing.why_unknown


def test_two_different_active_prices_are_ambiguous_not_guessed() -> None:
    prices = parse_pricing(
        {"pricing": [row(NEBIUS, "GPU_TYPE_H100", "2", 0), row(NEBIUS, "GPU_TYPE_H100", "3", 0)]},
        source="s",
    )
    rate = prices.rate(NEBIUS, "GPU_TYPE_H100", deployable=True)
    assert rate.hourly is None and "2 different active prices" in rate.why_unknown


def test_missing_is_active_is_false_and_missing_list_is_empty() -> None:
    item = row(NEBIUS, "GPU_TYPE_H100", "2", 0)
    del item["isActive"]
    assert parse_pricing({"pricing": [item]}, source="s").rows[0].active is False
    assert parse_pricing({}, source="s").rows == ()


def test_bad_rows_are_all_named_by_path() -> None:
    bad = {
        "pricing": [
            row(NEBIUS, "GPU_TYPE_H100", "-2", -5),
            row(NEBIUS, "GPU_TYPE_A100", "1", 2_000_000_000),
            {"gpuType": "", "cloudProvider": NEBIUS},
            row(NEBIUS, "GPU_TYPE_B200", "1", 0) | {"isActive": "yes"},
        ]
    }
    with pytest.raises(PricingError) as caught:
        parse_pricing(bad, source="pricing file p.json")
    text = str(caught.value)
    assert text.startswith("pricing file p.json: 4 bad price row(s)")
    assert "$.pricing[0].hourlyRate: a negative price" in text
    assert "$.pricing[1].hourlyRate.nanos" in text
    assert "$.pricing[2].gpuType" in text
    assert "$.pricing[3].isActive" in text


def _plan(*, prune: bool = False):
    new = desired("new", gpuCount=3, gpuType="GPU_TYPE_A100")
    grown_old = desired("grown", gpuCount=1)
    grown = desired("grown", gpuCount=2)
    same = desired("same", gpuType="GPU_TYPE_B200", gpuCount=7)
    gone = desired("gone", gpuCount=2)
    st = state(recorded(grown_old, "m-grown"), recorded(same, "m-same"), recorded(gone, "m-gone"))
    return make_plan([new, grown, same], st, prune=prune)


def test_each_change_before_and_after_exact() -> None:
    estimate = cost.estimate_plan(_plan(prune=True), PRICES)
    by = estimate.changes
    # 3 x 0.1 is exactly 0.3: no float anywhere.
    assert (by["new"].before, by["new"].after) == (None, Money("USD", 300_000_000))
    assert by["grown"].before == Money("USD", 2_950_000_000)
    assert by["grown"].after == Money("USD", 5_900_000_000)
    assert (by["gone"].before, by["gone"].after) == (Money("USD", 5_900_000_000), None)
    assert by["same"].before == by["same"].after == Money("USD", 7)
    [total] = estimate.totals
    assert (total.currency, total.before, total.after) == ("USD", 8_850_000_007, 6_200_000_007)
    assert total.difference == -2_650_000_000
    assert cost.monthly(total.after) == 4_526_000_005_110


def test_a_kept_delete_keeps_costing() -> None:
    estimate = cost.estimate_plan(_plan(prune=False), PRICES)
    gone = estimate.changes["gone"]
    assert gone.before == gone.after == Money("USD", 5_900_000_000)
    assert not gone.calls


def test_currencies_are_never_added() -> None:
    old = desired("move", gpuCount=1)
    new = desired("move", gpuCount=2, infra={"cloudProvider": YOTTA})
    eur = desired("eur", infra={"cloudProvider": YOTTA})
    plan = make_plan([new, eur], state(recorded(old, "m1")), prune=False)
    estimate = cost.estimate_plan(plan, PRICES)
    assert [line.currency for line in estimate.changes["move"].lines] == ["EUR", "USD"]
    totals = {line.currency: line for line in estimate.totals}
    assert (totals["EUR"].before, totals["EUR"].after) == (0, 6_000_000_000)
    assert (totals["USD"].before, totals["USD"].after) == (2_950_000_000, 0)


def test_unpriced_deploys_are_infeasible_and_out_of_the_totals() -> None:
    retired = desired("retired", gpuType="GPU_TYPE_H200", infra={"cloudProvider": LAMBDA})
    ok = desired("ok")
    estimate = cost.estimate_plan(make_plan([retired, ok], state(), prune=False), PRICES)
    [blocked] = estimate.infeasible
    assert blocked.name == "retired" and "inactive" in blocked.reason
    assert [c.name for c in estimate.unpriced] == ["retired"]
    assert [(t.currency, t.after) for t in estimate.totals] == [("USD", 2_950_000_000)]
    with pytest.raises(cost.InfeasibleError, match=r"retired cannot be deployed.*H200.*LAMBDA"):
        cost.check_feasible(estimate, allow_unpriced=False)
    cost.check_feasible(estimate, allow_unpriced=True)


def test_a_running_model_at_a_retired_price_still_costs_and_may_stay() -> None:
    old = desired("old", gpuType="GPU_TYPE_H200", infra={"cloudProvider": LAMBDA})
    estimate = cost.estimate_plan(make_plan([old], state(recorded(old, "m")), prune=False), PRICES)
    assert estimate.infeasible == ()
    assert estimate.changes["old"].after == Money("USD", 3_290_000_000)


def test_a_missing_model_costs_nothing_before_its_correction() -> None:
    model = desired("healed")
    plan = make_plan([model], state(recorded(model, "m")), prune=False)
    healed = replace(plan.changes[0], action=Action.REPLACE, drift=DriftKind.MISSING)
    estimate = cost.estimate_plan(replace(plan, changes=(healed,)), PRICES)
    assert estimate.changes["healed"].before is None
    assert estimate.totals[0].difference == 2_950_000_000


def _over(limit: str) -> str | None:
    nanos, currency = parse_amount(limit)
    return budget.refusal(cost.estimate_plan(_plan(), PRICES), HourlyLimit(nanos, currency))


@pytest.mark.parametrize(
    ("limit", "refused"),
    [("5.9", False), ("3.25", False), ("3.249999999", True), ("0", True), ("3.25 EUR", True)],
)
def test_budget_limits(limit: str, refused: bool) -> None:
    # The plan adds 0.30 (new) + 2.95 (grown) = 3.25 USD/h; the kept delete adds nothing.
    assert (_over(limit) is not None) == refused


def test_budget_refusal_names_the_biggest_contributors() -> None:
    why = _over("1")
    assert why is not None
    assert "adds 3.25 USD/h" in why
    assert why.index("grown (replace, +2.95 USD/h)") < why.index("new (create, +0.30 USD/h)")


def test_budget_cannot_be_checked_without_prices_or_with_unpriced_changes() -> None:
    limit = HourlyLimit(10**12)
    unknown = budget.refusal(cost.unknown_cost("no prices"), limit)
    assert unknown is not None and "unknown (no prices)" in unknown
    retired = desired("retired", gpuType="GPU_TYPE_H200", infra={"cloudProvider": LAMBDA})
    estimate = cost.estimate_plan(make_plan([retired], state(), prune=False), PRICES)
    partial = budget.refusal(estimate, limit)
    assert partial is not None and "retired" in partial
    with pytest.raises(budget.BudgetError, match="refused before any change"):
        budget.check_budget(estimate, limit)


@pytest.mark.parametrize(
    ("balance", "hours", "warned"),
    [
        ("70.80", "24", False),  # 2.95/h x 24 h = 70.80: exactly covered
        ("70.79", "24", True),
        ("1", "0", False),  # 0 hours: never warn
        ("-5", "24", True),
    ],
)
def test_balance_warning(balance: str, hours: str, warned: bool) -> None:
    estimate = cost.estimate_plan(make_plan([desired("a")], state(), prune=False), PRICES)
    money = Money("USD", parse_amount(balance)[0])
    message = budget.balance_warning(money, estimate, hours=Decimal(hours))
    assert (message is not None) == warned


def test_balance_in_another_currency_is_not_compared() -> None:
    estimate = cost.estimate_plan(make_plan([desired("a")], state(), prune=False), PRICES)
    assert budget.balance_warning(Money("EUR", 0), estimate, hours=Decimal(24)) is None


def test_price_list_source_is_named() -> None:
    assert isinstance(PRICES, PriceList) and PRICES.source == "test prices"


def test_live_spend_counts_running_managed_models_only() -> None:
    from reconciler.core.model import LiveModel
    from reconciler.core.spec import normalize_spec
    from reconciler.core.spend import live_spend

    def live(model_id: str, name: str, status: str = "MODEL_STATUS_UP", **spec) -> LiveModel:
        fields = {"gpuType": "GPU_TYPE_H100", "gpuCount": 1, "infra": {"cloudProvider": NEBIUS}}
        return LiveModel(model_id, name, status, normalize_spec({**fields, **spec}))

    st = state(
        recorded(desired("a"), "m-a"),
        recorded(desired("b"), "m-b"),
        recorded(desired("c"), "m-c"),
        recorded(desired("d"), "m-d"),
        recorded(desired("e"), "m-e"),
    )
    models = [
        live("m-a", "a", gpuCount=2),  # 2 x 2.95
        live("m-b", "b", "MODEL_STATUS_INIT", infra={"cloudProvider": YOTTA}),  # 2.00 EUR
        live("m-c", "c", "MODEL_STATUS_DELETED"),
        live("m-d", "d", "MODEL_STATUS_FAILED"),
        live("m-e", "e", gpuType="GPU_TYPE_H200"),  # no price on Nebius
        live("m-x", "unmanaged", gpuCount=8),
    ]
    spend = live_spend(st, models, PRICES)
    assert spend.hourly == {"EUR": 2_000_000_000, "USD": 5_900_000_000}
    assert spend.models == 2 and spend.unpriced == ("e",)
    # Each priced model on its own (the status page's cost column), exact.
    assert {name: str(money) for name, money in spend.by_name.items()} == {
        "a": "5.90 USD",
        "b": "2.00 EUR",
    }
    assert not live_spend(st, models, "no prices").known
