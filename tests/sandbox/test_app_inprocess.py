"""Fast in-process checks of the routes (ASGI, fake clock); the loopback tests cover the rest."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from reconciler.sandbox.app import create_app
from reconciler.sandbox.config import SandboxConfig
from reconciler.sandbox.faults import FaultInjector, FaultKnobs
from reconciler.sandbox.store import ModelStore
from tests.sandbox.clock import FakeClock

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

CONFIG = SandboxConfig(token="tok")
BODY: dict[str, Any] = {
    "modelName": "llama",
    "modelPath": "meta/x",
    "gpuType": "GPU_TYPE_H100",
    "gpuCount": 1,
    "infra": {"cloudProvider": "CLOUD_PROVIDER_NEBIUS"},
}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(clock: FakeClock) -> Iterator[TestClient]:
    store = ModelStore(clock=clock, ready_after=3, deleted_linger=60)
    app = create_app(CONFIG, store, FaultInjector(FaultKnobs(), seed=0))
    with warnings.catch_warnings():
        # starlette warns (on import) about its httpx-based TestClient; it still works and is fast.
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    with TestClient(app, headers={"Authorization": "Bearer tok"}) as test_client:
        yield test_client


def test_init_becomes_up_when_the_clock_passes_ready_after(
    client: TestClient, clock: FakeClock
) -> None:
    model = client.post("/v1/models", json=BODY).json()["model"]
    assert model["status"] == "MODEL_STATUS_INIT"
    clock.advance(3)
    again = client.get(f"/v1/models/{model['modelId']}").json()["model"]
    assert again["status"] == "MODEL_STATUS_UP"
    assert len(again["events"]) == 2


def test_deleted_model_lingers_as_deleted_then_is_gone(
    client: TestClient, clock: FakeClock
) -> None:
    model_id = client.post("/v1/models", json=BODY).json()["model"]["modelId"]
    assert client.delete(f"/v1/models/{model_id}").json() == {}
    listed = client.get("/v1/models").json()["models"]
    assert [m["status"] for m in listed] == ["MODEL_STATUS_DELETED"]
    # A deleted deployment no longer serves: its key and endpoint are the zero value.
    assert (listed[0]["apiKey"], listed[0]["endpoint"]) == ("", "")
    clock.advance(61)
    assert client.get("/v1/models").json() == {"models": []}
    assert client.get(f"/v1/models/{model_id}").status_code == 404


def test_unknown_route_and_method_use_grpc_bodies(client: TestClient) -> None:
    missing = client.get("/v2/nothing")
    assert missing.status_code == 501
    assert missing.json()["code"] == 12
    wrong = client.put("/v1/models")
    assert wrong.status_code == 501
    assert wrong.json()["code"] == 12
    assert wrong.headers["x-request-id"]


def test_bad_json_is_a_400(client: TestClient) -> None:
    response = client.post("/v1/models", content=b"{nope")
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["message"]


def test_reset_brings_back_a_fresh_sandbox(client: TestClient) -> None:
    fresh = client.get("/_sandbox/stats").json()
    first = client.post("/v1/models", json=BODY).json()["model"]
    second = client.post("/v1/models", json={**BODY, "modelName": "b"}).json()["model"]
    client.delete(f"/v1/models/{second['modelId']}")  # counts a delete
    client.get("/auth/profile")  # counts a profile call
    client.post("/_sandbox/faults", json={"errorRate": 0.5})
    rotated = client.post("/_sandbox/tokens", json={"revokeOthers": True}).json()
    assert client.get("/v1/models", headers={"Authorization": "Bearer nope"}).status_code == 401

    assert client.post("/_sandbox/reset").json() == {"reset": True}

    stats = client.get("/_sandbox/stats").json()
    # Every counter and knob as started: the tests share one sandbox per session on this.
    assert stats == fresh
    assert stats["requests"] == 0 and stats["createCalls"] == 0 and stats["creates"] == {}
    assert stats["authRejected"] == {"expired": 0, "unknown": 0}
    assert stats["knobs"]["errorRate"] == 0
    assert client.get("/v1/models").json().get("models", []) == []  # the configured token works
    assert client.get(f"/v1/models/{first['modelId']}").status_code == 404
    rotated_auth = {"Authorization": f"Bearer {rotated['access_token']}"}
    assert client.get("/v1/models", headers=rotated_auth).status_code == 401
    again = client.post("/v1/models", json=BODY).json()["model"]  # the name is free again
    assert again["modelName"] == "llama"
