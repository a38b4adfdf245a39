"""The real sandbox over loopback HTTP: every endpoint, error code and lifecycle rule."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.support.sandbox import SandboxProcess, start_sandbox

SECRET_HF = "hf_LOOPBACK_SECRET_123"
SECRET_KEY = "user-api-key-SECRET-456"


def body(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "modelName": name,
        "modelPath": "meta-llama/Llama-3.1-8B-Instruct",
        "gpuType": "GPU_TYPE_H100",
        "gpuCount": 2,
        "infra": {"cloudProvider": "CLOUD_PROVIDER_NEBIUS"},
        **extra,
    }


def wait_for(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def sbx() -> Iterator[SandboxProcess]:
    with start_sandbox("--deleted-linger", "1", ready_after=0.3) as process:
        yield process


def test_ready_line_names_url_token_and_stable_user(sbx: SandboxProcess) -> None:
    assert sbx.url.startswith("http://127.0.0.1:")
    assert not sbx.url.endswith(":0")
    assert sbx.token == "test-token"
    profile = sbx.client.get("/auth/profile").json()
    assert profile["user"]["id"] == sbx.user_id
    # The official SDK's User fields; apiKey is a secret the SDK hides.
    assert profile["user"]["userEmail"]
    assert profile["user"]["displayName"]
    assert profile["user"]["apiKey"].startswith("tmu-")


def test_every_response_has_a_unique_request_id(sbx: SandboxProcess) -> None:
    responses = [
        sbx.client.get("/auth/profile"),
        sbx.client.get("/v1/models/nope"),
        sbx.client.post("/v1/models", json={}),
        sbx.client.get("/no/such/route"),
        httpx.get(f"{sbx.url}/v1/models"),
        httpx.get(f"{sbx.url}/_sandbox/stats", headers={"Authorization": "Bearer wrong"}),
    ]
    ids = [r.headers.get("x-request-id") for r in responses]
    assert all(ids)
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("auth", [None, "Bearer wrong", "test-token", "Basic dGVzdA=="])
def test_without_the_token_it_is_401_code_16(sbx: SandboxProcess, auth: str | None) -> None:
    headers = {"Authorization": auth} if auth else {}
    response = httpx.get(f"{sbx.url}/v1/models", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == 16
    assert response.json()["details"] == []


def test_create_returns_an_init_model_with_strings_for_int64_and_an_api_key(
    sbx: SandboxProcess,
) -> None:
    request = body("create-shape", hfToken=SECRET_HF, apiKey=SECRET_KEY, userId=sbx.user_id)
    response = sbx.client.post("/v1/models", json=request)
    assert response.status_code == 200
    model = response.json()["model"]
    assert model["status"] == "MODEL_STATUS_INIT"
    assert model["gpuCount"] == "2"
    assert model["userId"] == sbx.user_id
    assert model["apiKey"].startswith("tmk-")
    assert model["endpoint"].startswith("https://create-shape.")
    assert model["events"][0]["log"]
    assert model["description"] == "" and model["modelSpec"] is None  # zero values emitted
    assert model["replicas"] == "0"
    assert "hfToken" not in model
    for text in (response.text, sbx.client.get("/v1/models").text):
        assert SECRET_HF not in text
        assert SECRET_KEY not in text


def test_a_new_model_goes_up_after_ready_after(sbx: SandboxProcess) -> None:
    model_id = sbx.create_model(body("goes-up"))["modelId"]

    def is_up() -> bool:
        model = sbx.client.get(f"/v1/models/{model_id}").json()["model"]
        return bool(model["status"] == "MODEL_STATUS_UP")

    wait_for(is_up)
    model = sbx.client.get(f"/v1/models/{model_id}", params={"userId": sbx.user_id}).json()
    assert len(model["model"]["events"]) == 2
    assert model["model"]["replicas"] == "1"


def test_a_deleted_model_lingers_its_name_is_free_at_once_then_it_vanishes(
    sbx: SandboxProcess,
) -> None:
    first = sbx.create_model(body("linger"))["modelId"]
    assert sbx.client.delete(f"/v1/models/{first}", params={"userId": sbx.user_id}).json() == {}
    listed = {m["modelId"]: m["status"] for m in sbx.list_models()}
    assert listed[first] == "MODEL_STATUS_DELETED"
    valid = sbx.client.post("/v1/models:validate", json={"modelName": "linger"}).json()
    assert valid == {"isValid": True}
    second = sbx.create_model(body("linger"))["modelId"]
    assert second != first
    wait_for(lambda: first not in {m["modelId"] for m in sbx.list_models()})
    assert sbx.client.get(f"/v1/models/{first}").status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"modelName": ""}, "modelName"),
        ({"modelName": "Not_Valid"}, "modelName"),
        ({"modelPath": ""}, "modelPath"),
        ({"gpuType": "GPU_TYPE_V100"}, "gpuType"),
        ({"gpuCount": 0}, "gpuCount"),
        ({"gpuCount": "many"}, "gpuCount"),
        ({"infra": {}}, "infra.cloudProvider"),
        ({"infra": {"cloudProvider": "CLOUD_PROVIDER_X"}}, "infra.cloudProvider"),
    ],
)
def test_invalid_create_is_400_code_3_naming_the_field(
    sbx: SandboxProcess, change: dict[str, Any], field: str
) -> None:
    response = sbx.client.post("/v1/models", json=body("bad-one", **change))
    assert response.status_code == 400
    assert response.json()["code"] == 3
    assert field in response.json()["message"]


def test_a_taken_name_is_409_code_6(sbx: SandboxProcess) -> None:
    sbx.create_model(body("taken"))
    response = sbx.client.post("/v1/models", json=body("taken"))
    assert response.status_code == 409
    assert response.json()["code"] == 6
    assert sbx.client.post("/v1/models:validate", json={"modelName": "taken"}).json() == {
        "isValid": False
    }
    assert sbx.stats()["creates"]["taken"] == 1


def test_another_users_id_is_403_code_7(sbx: SandboxProcess) -> None:
    other = "00000000-0000-4000-8000-000000000000"
    model_id = sbx.create_model(body("mine"))["modelId"]
    calls = [
        sbx.client.get("/v1/models", params={"userId": other}),
        sbx.client.get(f"/v1/models/{model_id}", params={"userId": other}),
        sbx.client.delete(f"/v1/models/{model_id}", params={"userId": other}),
        sbx.client.post("/v1/models", json=body("theirs", userId=other)),
        sbx.client.post("/v1/models:validate", json={"modelName": "x", "userId": other}),
    ]
    assert [(r.status_code, r.json()["code"]) for r in calls] == [(403, 7)] * 5


def test_unknown_model_is_404_code_5(sbx: SandboxProcess) -> None:
    for response in (
        sbx.client.get("/v1/models/4b1e0c5e-0000-0000-0000-000000000000"),
        sbx.client.delete("/v1/models/4b1e0c5e-0000-0000-0000-000000000000"),
    ):
        assert response.status_code == 404
        assert response.json()["code"] == 5


def test_validate_rejects_a_bad_pattern(sbx: SandboxProcess) -> None:
    response = sbx.client.post("/v1/models:validate", json={"modelName": "Bad Name"})
    assert response.json() == {"isValid": False}


def test_gpu_pricing_is_money_and_filters(sbx: SandboxProcess) -> None:
    every = sbx.client.get("/v1/billing/gpu-pricing").json()["pricing"]
    assert len(every) > 4
    rows = sbx.client.get(
        "/v1/billing/gpu-pricing",
        params={"cloudProvider": "CLOUD_PROVIDER_LAMBDA", "gpuType": "GPU_TYPE_H100"},
    ).json()["pricing"]
    assert rows == [
        {
            "gpuType": "GPU_TYPE_H100",
            "cloudProvider": "CLOUD_PROVIDER_LAMBDA",
            "hourlyRate": {"currencyCode": "USD", "units": "2", "nanos": 490000000},
            "isActive": True,
        }
    ]


def test_admin_fail_and_patch_simulate_trouble_and_drift(sbx: SandboxProcess) -> None:
    model_id = sbx.create_model(body("drifter"))["modelId"]
    patched = sbx.patch_model(model_id, {"gpuCount": 4, "description": "changed by hand"})
    assert patched["gpuCount"] == "4"
    live = sbx.client.get(f"/v1/models/{model_id}").json()["model"]
    assert (live["gpuCount"], live["description"]) == ("4", "changed by hand")
    failed = sbx.fail_model(model_id)
    assert failed["status"] == "MODEL_STATUS_FAILED"
    assert failed["events"][-1]["eventType"] == "MODEL_EVENT_TYPE_ERROR"
    bad = sbx.client.patch(f"/_sandbox/models/{model_id}", json={"modelId": "x"})
    assert bad.status_code == 400


def test_stats_count_requests_creates_and_deletes(sbx: SandboxProcess) -> None:
    before = sbx.stats()
    model_id = sbx.create_model(body("counted"))["modelId"]
    sbx.client.post("/v1/models", json=body("counted"))  # refused: a call, not a create
    sbx.delete_model(model_id)
    after = sbx.stats()
    assert after["creates"]["counted"] == 1
    assert after["createCalls"] - before["createCalls"] == 2
    assert after["deletes"] - before["deletes"] == 1
    assert after["requests"] - before["requests"] == 3  # admin calls are not counted
    assert set(after["faults"]) == {"rateLimited", "errors", "lostCreates", "failedModels"}
