"""The SDK's picture of the API and the knobs for each guess, checked in process (fake clock)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from reconciler.sandbox.app import create_app
from reconciler.sandbox.config import ApiShape, SandboxConfig
from reconciler.sandbox.faults import FaultInjector, FaultKnobs
from reconciler.sandbox.store import ModelStore
from tests.sandbox.clock import FakeClock

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

BODY: dict[str, Any] = {
    "modelName": "llama",
    "modelPath": "meta-llama/Llama-3.1-8B-Instruct",
    "gpuType": "GPU_TYPE_H100",
    "gpuCount": "1",
    "infra": {"cloudProvider": "CLOUD_PROVIDER_NEBIUS", "nebiusRegion": "NEBIUS_REGION_EU"},
}

MakeClient = Callable[..., "TestClient"]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_client(clock: FakeClock) -> Iterator[MakeClient]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    opened: list[TestClient] = []

    def make(shape: ApiShape | None = None, knobs: FaultKnobs | None = None) -> TestClient:
        config = SandboxConfig(token="tok", shape=shape or ApiShape())
        store = ModelStore(
            clock=clock,
            ready_after=3,
            deleted_linger=60,
            failed_status=config.shape.failed_status,
        )
        app = create_app(config, store, FaultInjector(knobs or FaultKnobs(), seed=0))
        client = TestClient(app, headers={"Authorization": "Bearer tok"})
        opened.append(client.__enter__())
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


def test_check_is_routed_before_the_model_id_route(make_client: MakeClient) -> None:
    client = make_client()
    model_id = client.post("/v1/models", json=BODY).json()["model"]["modelId"]
    answer = client.post("/v1/models/check", json={"modelId": model_id})
    assert answer.status_code == 200
    assert answer.json() == {"requiredGpuMemoryGib": 19.2, "requiredLmCacheMemoryGib": 0.0}
    assert client.post("/v1/models/check", json={}).json()["code"] == 3
    assert client.post("/v1/models/check", json={"modelId": "nope"}).status_code == 404


def test_search_by_infra_matches_the_given_infra_fields(make_client: MakeClient) -> None:
    client = make_client()
    client.post("/v1/models", json=BODY)
    lam = {**BODY, "modelName": "other", "infra": {"cloudProvider": "CLOUD_PROVIDER_LAMBDA"}}
    client.post("/v1/models", json=lam)
    found = client.post(
        "/v1/models:search-by-infra", json={"infra": {"cloudProvider": "CLOUD_PROVIDER_LAMBDA"}}
    ).json()["models"]
    assert [m["modelName"] for m in found] == ["other"]
    assert client.post("/v1/models:search-by-infra", json={}).status_code == 400


def test_balance_is_money_from_the_knob(make_client: MakeClient) -> None:
    client = make_client(ApiShape(balance="-12.50"))
    assert client.get("/v1/billing/balance").json() == {
        "balance": {"currencyCode": "USD", "units": "-12", "nanos": -500000000}
    }


def test_active_only_hides_the_inactive_pricing_rows(make_client: MakeClient) -> None:
    client = make_client()
    every = client.get("/v1/billing/gpu-pricing").json()["pricing"]
    active = client.get("/v1/billing/gpu-pricing", params={"activeOnly": "true"}).json()
    assert any(not row["isActive"] for row in every)
    assert active["pricing"] == [row for row in every if row["isActive"]]
    assert client.get("/v1/billing/gpu-pricing", params={"activeOnly": "maybe"}).status_code == 400


def test_deployment_logs_come_from_the_model_events(
    make_client: MakeClient, clock: FakeClock
) -> None:
    client = make_client()
    model = client.post("/v1/models", json=BODY).json()["model"]
    clock.advance(5)
    path = f"/v1/observability/deployments/{model['deploymentId']}/logs"
    logs = client.get(path).json()["logs"]
    assert [entry["message"] for entry in logs] == [
        f"Deployment {model['deploymentId']} created",
        "Model is up and serving",
    ]
    backward = client.get(path, params={"direction": "LOG_DIRECTION_BACKWARD", "limit": "1"})
    assert [e["message"] for e in backward.json()["logs"]] == ["Model is up and serving"]
    late = client.get(path, params={"startTime": logs[1]["timestamp"]}).json()["logs"]
    assert late == logs[1:]
    assert client.get(path, params={"direction": "sideways"}).status_code == 400
    assert client.get("/v1/observability/deployments/dep-nope/logs").status_code == 404


def test_the_failed_status_and_terminal_statuses_are_knobs(
    make_client: MakeClient, clock: FakeClock
) -> None:
    shape = ApiShape(
        failed_status="MODEL_STATUS_ERROR", terminal_statuses=("MODEL_STATUS_STOPPED",)
    )
    client = make_client(shape, FaultKnobs(fail_rate=1.0))
    model = client.post("/v1/models", json=BODY).json()["model"]
    clock.advance(5)
    failed = client.get(f"/v1/models/{model['modelId']}").json()["model"]
    assert failed["status"] == "MODEL_STATUS_ERROR"
    assert failed["events"][-1]["eventType"] == "MODEL_EVENT_TYPE_ERROR"
    fail = f"/_sandbox/models/{model['modelId']}:fail"
    stopped = client.post(fail, json={"status": "MODEL_STATUS_STOPPED"}).json()["model"]
    assert stopped["status"] == "MODEL_STATUS_STOPPED"
    assert client.post(fail, json={"status": "MODEL_STATUS_FAILED"}).status_code == 400


@pytest.mark.parametrize(("status", "code"), [(402, 9), (429, 8), (403, 7)])
def test_a_create_refused_for_billing_commits_nothing(
    make_client: MakeClient, status: int, code: int
) -> None:
    client = make_client(knobs=FaultKnobs(refuse_creates_status=status))
    refused = client.post("/v1/models", json=BODY)
    assert (refused.status_code, refused.json()["code"]) == (status, code)
    assert "billing" in refused.json()["message"]
    assert client.get("/v1/models").json() == {"models": []}
    client.post("/_sandbox/faults", json={"refuseCreatesStatus": 0})
    assert client.post("/v1/models", json=BODY).status_code == 200
    assert client.get("/_sandbox/stats").json()["billingRefusals"] == 1


def test_the_refusal_code_is_a_knob(make_client: MakeClient) -> None:
    knobs = FaultKnobs(refuse_creates_status=400, refuse_creates_code=8)
    refused = make_client(knobs=knobs).post("/v1/models", json=BODY)
    assert (refused.status_code, refused.json()["code"]) == (400, 8)


def test_tokens_expire_and_a_rotated_one_is_accepted(
    make_client: MakeClient, clock: FakeClock
) -> None:
    client = make_client(ApiShape(token_ttl=60))
    assert client.get("/v1/models").status_code == 200
    clock.advance(61)
    expired = client.get("/v1/models")
    assert (expired.status_code, expired.json()["code"]) == (401, 16)
    assert "expired" in expired.json()["message"]
    issued = client.post("/_sandbox/tokens", json={"revokeOthers": True}).json()
    assert issued["expires_in"] == 60
    fresh = {"Authorization": f"Bearer {issued['access_token']}"}
    assert client.get("/v1/models", headers=fresh).status_code == 200
    # tm auth refresh: the refresh token buys a new pair, once.
    renewed = client.post("/auth/cli/refresh", json={"refresh_token": issued["refresh_token"]})
    assert renewed.status_code == 200
    again = client.post("/auth/cli/refresh", json={"refresh_token": issued["refresh_token"]})
    assert again.status_code == 401
    assert client.get("/v1/models", headers=fresh).status_code == 401
    newest = {"Authorization": f"Bearer {renewed.json()['access_token']}"}
    assert client.get("/v1/models", headers=newest).status_code == 200
    assert client.get("/_sandbox/stats").json()["authRejected"] == {"expired": 1, "unknown": 1}


def test_revoking_others_retires_the_start_token_for_the_api(make_client: MakeClient) -> None:
    client = make_client()
    client.post("/_sandbox/tokens", json={"revokeOthers": True})
    assert client.get("/v1/models").status_code == 401
    assert client.get("/_sandbox/stats").status_code == 200  # still the admin credential


def test_unknown_paths_may_answer_404_instead(make_client: MakeClient) -> None:
    client = make_client(ApiShape(unknown_path_status=404))
    assert (client.get("/v2/nothing").status_code, client.get("/v2/nothing").json()["code"]) == (
        404,
        5,
    )
    assert client.put("/v1/models").status_code == 501


def test_strict_requests_is_a_knob_of_the_app(make_client: MakeClient) -> None:
    lenient = make_client().post("/v1/models", json={**BODY, "labels": {"a": "b"}})
    strict = make_client(ApiShape(strict_requests=True)).post(
        "/v1/models", json={**BODY, "modelName": "x2", "labels": {"a": "b"}}
    )
    assert (lenient.status_code, strict.status_code) == (200, 400)
