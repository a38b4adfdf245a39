"""The sandbox's billing routes in process: prices with an inactive row and activeOnly, and the
balance knob as Money."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from reconciler.core.errors import UsageError
from reconciler.sandbox.app import create_app
from reconciler.sandbox.config import ApiShape, SandboxConfig
from reconciler.sandbox.faults import FaultInjector, FaultKnobs
from reconciler.sandbox.routes_account import money
from reconciler.sandbox.store import ModelStore
from tests.sandbox.clock import FakeClock

if TYPE_CHECKING:
    from fastapi.testclient import TestClient


def _client(config: SandboxConfig) -> Iterator[TestClient]:
    store = ModelStore(clock=FakeClock(), ready_after=3, deleted_linger=60)
    app = create_app(config, store, FaultInjector(FaultKnobs(), seed=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    with TestClient(app, headers={"Authorization": "Bearer tok"}) as test_client:
        yield test_client


@pytest.fixture
def client() -> Iterator[TestClient]:
    yield from _client(SandboxConfig(token="tok", shape=ApiShape(balance="-1.25")))


def test_prices_list_an_inactive_row_that_active_only_hides(client: TestClient) -> None:
    rows = client.get("/v1/billing/gpu-pricing").json()["pricing"]
    inactive = [r for r in rows if not r["isActive"]]
    assert [(r["cloudProvider"], r["gpuType"]) for r in inactive] == [
        ("CLOUD_PROVIDER_LAMBDA", "GPU_TYPE_H200")
    ]
    active = client.get("/v1/billing/gpu-pricing", params={"activeOnly": "true"}).json()
    assert len(active["pricing"]) == len(rows) - 1
    assert all(r["isActive"] for r in active["pricing"])


def test_balance_is_the_knob_as_money_with_one_sign(client: TestClient) -> None:
    assert client.get("/v1/billing/balance").json() == {
        "balance": {"currencyCode": "USD", "units": "-1", "nanos": -250000000}
    }


@pytest.mark.parametrize("amount", ["lots", "NaN", "Infinity"])
def test_a_bad_balance_is_refused(amount: str) -> None:
    with pytest.raises(UsageError, match="not a decimal amount"):
        money(amount, "USD")
