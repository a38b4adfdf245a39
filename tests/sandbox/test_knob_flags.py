"""The API-shape knobs reach the running sandbox from its command line (real process)."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.support.sandbox import start_sandbox

pytestmark = pytest.mark.e2e  # a sandbox subprocess over loopback

BODY: dict[str, Any] = {
    "modelName": "knobs",
    "modelPath": "meta/x",
    "gpuType": "GPU_TYPE_H100",
    "gpuCount": 1,
    "infra": {"cloudProvider": "CLOUD_PROVIDER_NEBIUS"},
}


def test_shape_flags_change_the_answers() -> None:
    flags = [
        "--omit-zero-values",
        "--strict-requests",
        "--failed-status",
        "MODEL_STATUS_ERROR",
        "--terminal-status",
        "MODEL_STATUS_STOPPED",
        "--cloud-provider",
        "CLOUD_PROVIDER_NEBIUS",
        "--event-type-info",
        "MODEL_EVENT_TYPE_NORMAL",
        "--unknown-path-status",
        "404",
        "--balance",
        "7.25",
    ]
    with start_sandbox(*flags) as sbx:
        api = sbx.client
        assert api.post("/v1/models", json={**BODY, "labels": {}}).status_code == 400
        yotta = {**BODY, "infra": {"cloudProvider": "CLOUD_PROVIDER_YOTTA"}}
        assert api.post("/v1/models", json=yotta).status_code == 400
        model = api.post("/v1/models", json=BODY).json()["model"]
        assert "description" not in model and "replicas" not in model
        assert model["events"][0]["eventType"] == "MODEL_EVENT_TYPE_NORMAL"
        failed = api.post(f"/_sandbox/models/{model['modelId']}:fail").json()["model"]
        assert failed["status"] == "MODEL_STATUS_ERROR"
        stop = {"status": "MODEL_STATUS_STOPPED"}
        assert api.post(f"/_sandbox/models/{model['modelId']}:fail", json=stop).status_code == 200
        assert api.get("/v2/none").status_code == 404
        assert api.get("/v1/billing/balance").json()["balance"] == {
            "currencyCode": "USD",
            "units": "7",
            "nanos": 250000000,
        }


def test_refuse_creates_billing_flag() -> None:
    with start_sandbox("--refuse-creates-billing", "402") as sbx:
        refused = sbx.client.post("/v1/models", json=BODY)
        assert (refused.status_code, refused.json()["code"]) == (402, 9)
        assert sbx.stats()["knobs"]["refuseCreatesStatus"] == 402


def test_token_ttl_expires_the_start_token_and_a_rotated_one_works() -> None:
    # Long enough for the rotated token to be used on a loaded machine; the start one expires.
    with start_sandbox("--token-ttl", "2") as sbx:
        deadline = time.monotonic() + 20
        answer = sbx.client.get("/v1/models")
        while answer.status_code == 200 and time.monotonic() < deadline:
            time.sleep(0.1)
            answer = sbx.client.get("/v1/models")
        assert answer.status_code == 401
        assert "expired" in answer.json()["message"]
        issued = sbx.client.post("/_sandbox/tokens", json={}).json()  # admin token still works
        fresh = httpx.get(
            f"{sbx.url}/v1/models",
            headers={"Authorization": f"Bearer {issued['access_token']}"},
        )
        assert fresh.status_code == 200
