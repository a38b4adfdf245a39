"""The pricing adapter over httpx.MockTransport: one unfiltered call, malformed answers named."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from reconciler.adapters import pricing
from reconciler.adapters.http_api import HttpModelsApi
from reconciler.core.errors import ApiError
from reconciler.core.money import Money

TOKEN = "tok-SECRET-pricing"


def _api(answer: Any, seen: list[httpx.Request], *, status: int = 200) -> HttpModelsApi:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, json=answer)

    client = httpx.Client(base_url="https://cp.test/base", transport=httpx.MockTransport(handle))
    return HttpModelsApi(client, token=TOKEN, sleep=lambda s: None)


ROW = {
    "gpuType": "GPU_TYPE_H100",
    "cloudProvider": "CLOUD_PROVIDER_NEBIUS",
    "hourlyRate": {"currencyCode": "USD", "units": "2", "nanos": 950000000},
    "isActive": True,
}


def test_prices_are_one_unfiltered_get_under_the_base_path() -> None:
    seen: list[httpx.Request] = []
    prices = pricing.fetch_prices(_api({"pricing": [ROW]}, seen))
    assert [(r.method, r.url.path, r.url.query) for r in seen] == [
        ("GET", "/base/v1/billing/gpu-pricing", b"")
    ]
    assert seen[0].headers["authorization"] == f"Bearer {TOKEN}"
    rate = prices.rate("CLOUD_PROVIDER_NEBIUS", "GPU_TYPE_H100", deployable=True)
    assert rate.hourly == Money("USD", 2_950_000_000)
    assert prices.source == "the pricing API"


def test_a_malformed_price_answer_is_an_api_error_naming_the_row() -> None:
    bad = dict(ROW, hourlyRate={"currencyCode": "USD", "units": "2", "nanos": 10**12})
    expected = r"(?s)malformed response.*\$\.pricing\[0\]\.hourlyRate\.nanos"
    with pytest.raises(ApiError, match=expected):
        pricing.fetch_prices(_api({"pricing": [bad]}, []))


def test_balance_is_money() -> None:
    seen: list[httpx.Request] = []
    answer = {"balance": {"currencyCode": "USD", "units": "12", "nanos": 500000000}}
    assert pricing.fetch_balance(_api(answer, seen)) == Money("USD", 12_500_000_000)
    assert seen[0].url.path == "/base/v1/billing/balance"
    with pytest.raises(ApiError, match="malformed response"):
        pricing.fetch_balance(_api({"balance": "lots"}, []))


def test_an_unimplemented_pricing_route_is_an_api_error_without_the_token() -> None:
    answer = {"code": 12, "message": "Not Implemented", "details": []}
    with pytest.raises(ApiError) as caught:
        pricing.fetch_prices(_api(answer, [], status=501))
    assert TOKEN not in str(caught.value)


def test_a_pricing_file_round_trips_the_api_json(tmp_path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"pricing": [ROW]}), encoding="utf-8")
    prices = pricing.read_pricing_file(str(path))
    assert prices.source == f"pricing file {path}"
    assert len(prices.rows) == 1
