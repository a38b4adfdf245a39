"""Golden files for a plan with cost (text, JSON, markdown), and what shows when it is unknown."""

from __future__ import annotations

import json

from reconciler.core import cost
from reconciler.core.pricing import parse_pricing
from reconciler.core.render_json import dumps, plan_to_json
from reconciler.core.render_markdown import render_markdown
from reconciler.core.render_text import render_plan
from tests.core.test_render_golden import sample_plan
from tests.support.golden import assert_golden


def _row(gpu: str, units: str, nanos: int, *, active: bool = True) -> dict:
    rate = {"currencyCode": "USD", "units": units, "nanos": nanos}
    provider = "CLOUD_PROVIDER_NEBIUS"
    return {"gpuType": gpu, "cloudProvider": provider, "hourlyRate": rate, "isActive": active}


PRICES = parse_pricing(
    {
        "pricing": [
            _row("GPU_TYPE_H100", "2", 950_000_000),
            _row("GPU_TYPE_A100", "1", 800_000_000),
            _row("GPU_TYPE_B200", "5", 500_000_000, active=False),
        ]
    },
    source="the pricing API",
)


def priced():
    plan = sample_plan()
    return plan, cost.estimate_plan(plan, PRICES)


def test_golden_plan_with_cost_text() -> None:
    plan, estimate = priced()
    assert_golden("plan_cost.txt", render_plan(plan, cost=estimate))


def test_golden_plan_with_cost_json() -> None:
    plan, estimate = priced()
    assert_golden("plan_cost.json", dumps(plan_to_json(plan, estimate)))


def test_golden_plan_with_cost_markdown() -> None:
    plan, estimate = priced()
    assert_golden("plan_cost.md", render_markdown(plan, cost=estimate))


def test_json_cost_amounts_are_exact_decimal_strings_with_currency() -> None:
    plan, estimate = priced()
    document = json.loads(dumps(plan_to_json(plan, estimate)))
    by_name = {change["name"]: change for change in document["changes"]}
    assert by_name["qwen-32b"]["cost"] == {
        "known": True,
        "hourly": [{"currency": "USD", "before": "2.95", "after": "5.90", "difference": "+2.95"}],
    }
    summary = document["summary"]["cost"]
    assert summary["hourly"] == [
        {"currency": "USD", "before": "8.85", "after": "16.55", "difference": "+7.70"}
    ]
    assert summary["monthly"][0]["difference"] == "+5621.00"
    assert summary["hoursPerMonth"] == 730 and summary["unpriced"] == []


def test_markdown_cost_table_is_right_under_the_summary_line() -> None:
    plan, estimate = priced()
    lines = render_markdown(plan, cost=estimate).splitlines()
    assert lines[1].startswith("### Tensormesh plan:")
    assert lines[3].startswith("| cost | hourly before")
    assert lines[5] == "| USD | 8.85 | 16.55 | +7.70 | +5621.00 |"


def test_unknown_cost_says_why_everywhere() -> None:
    plan = sample_plan()
    unknown = cost.unknown_cost("no prices: no token")
    assert render_plan(plan, cost=unknown).endswith("Cost: unknown (no prices: no token).\n")
    assert "Cost: unknown (no prices: no token)." in render_markdown(plan, cost=unknown)
    document = plan_to_json(plan, unknown)
    assert document["summary"]["cost"] == {"known": False, "reason": "no prices: no token"}
    assert all("cost" not in change for change in document["changes"])


def test_without_cost_the_plan_renders_as_before() -> None:
    plan = sample_plan()
    assert "Cost" not in render_plan(plan) and "cost" not in render_markdown(plan)
    assert "cost" not in plan_to_json(plan)["summary"]


def mixed():
    """Two currencies in one replace, a kept price unknown, a delete: the rare shapes."""
    from reconciler.core.plan import make_plan
    from tests.core.test_cost import LAMBDA, YOTTA
    from tests.core.test_cost import PRICES as MIXED_PRICES
    from tests.support.builders import desired, recorded, state

    old = desired("move", gpuCount=1)
    new = desired("move", gpuCount=2, infra={"cloudProvider": YOTTA})
    retired = desired("retired", gpuType="GPU_TYPE_H200", infra={"cloudProvider": LAMBDA})
    st = state(recorded(old, "m1"), recorded(desired("gone"), "m2"))
    plan = make_plan([new, retired], st, prune=True)
    return plan, cost.estimate_plan(plan, MIXED_PRICES)


def test_golden_plan_with_two_currencies_and_an_unpriced_entry() -> None:
    plan, estimate = mixed()
    assert_golden("plan_cost_mixed.txt", render_plan(plan, cost=estimate))
    assert_golden("plan_cost_mixed.json", dumps(plan_to_json(plan, estimate)))
