"""The sandbox as a process: clean stop, --data across restarts, fault knobs and their seeds."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.sandbox.test_loopback import SECRET_HF, SECRET_KEY, body, wait_for
from tests.support.sandbox import SandboxStartError, start_sandbox

pytestmark = pytest.mark.e2e  # a sandbox subprocess over loopback


def test_sigterm_stops_it_cleanly_with_exit_0() -> None:
    process = start_sandbox()
    assert process.client.get("/v1/models").status_code == 200
    assert process.stop() == 0
    assert "Traceback" not in process.stderr_text()


def test_data_file_keeps_models_across_a_restart_without_secrets(tmp_path: Path) -> None:
    data = tmp_path / "sandbox.json"
    with start_sandbox("--data", str(data)) as first:
        created = first.create_model(body("kept", hfToken=SECRET_HF, apiKey=SECRET_KEY))
        first.delete_model(first.create_model(body("gone"))["modelId"])
    text = data.read_text()
    assert SECRET_HF not in text and SECRET_KEY not in text and created["apiKey"] not in text
    with start_sandbox("--data", str(data)) as second:
        assert second.user_id == first.user_id  # same token, same user
        models = {m["modelName"]: m for m in second.list_models()}
        assert models["kept"]["modelId"] == created["modelId"]
        assert models["kept"]["gpuCount"] == "2"
        assert models["gone"]["status"] == "MODEL_STATUS_DELETED"
        assert models["kept"]["apiKey"].startswith("tmk-")


def test_a_corrupt_data_file_fails_to_start_with_a_clear_message(tmp_path: Path) -> None:
    data = tmp_path / "sandbox.json"
    data.write_text("[broken")
    with pytest.raises(SandboxStartError) as caught:
        start_sandbox("--data", str(data))
    message = str(caught.value)
    assert "cannot load sandbox data" in message
    assert "Traceback" not in message


def _statuses(*args: str, n: int = 30) -> list[int]:
    with start_sandbox(*args) as process:
        return [process.client.get("/v1/models").status_code for _ in range(n)]


def test_error_rate_and_rate_limit_follow_the_seed() -> None:
    args = ("--error-rate", "0.3", "--rate-limit-every", "7", "--seed", "11")
    first = _statuses(*args)
    assert first == _statuses(*args)
    assert [i + 1 for i, s in enumerate(first) if s == 429] == [7, 14, 21, 28]
    assert 503 in first and 200 in first
    assert first != _statuses("--error-rate", "0.3", "--rate-limit-every", "7", "--seed", "12")


def test_fault_knobs_at_run_time() -> None:
    with start_sandbox(ready_after=0.1) as sbx:
        # 429 carries Retry-After and changes nothing.
        sbx.set_faults(rateLimitEvery=1)
        limited = sbx.client.post("/v1/models", json=body("limited"))
        assert limited.status_code == 429
        assert limited.json()["code"] == 8
        assert float(limited.headers["retry-after"]) <= 1
        # 503 changes nothing either.
        sbx.set_faults(rateLimitEvery=0, errorRate=1)
        unavailable = sbx.client.post("/v1/models", json=body("unavailable"))
        assert (unavailable.status_code, unavailable.json()["code"]) == (503, 14)
        # A lost create is committed, then answered with a 502.
        sbx.set_faults(errorRate=0, loseCreateRate=1)
        lost = sbx.client.post("/v1/models", json=body("lost"))
        assert lost.status_code == 502
        assert lost.headers["x-request-id"]
        # A failing model reaches MODEL_STATUS_FAILED with an error event.
        sbx.set_faults(loseCreateRate=0, failRate=1)
        failing = sbx.create_model(body("failing"))

        def failed() -> bool:
            model: dict[str, Any] = sbx.client.get(f"/v1/models/{failing['modelId']}").json()
            return bool(model["model"]["status"] == "MODEL_STATUS_FAILED")

        wait_for(failed)
        names = {m["modelName"] for m in sbx.list_models()}
        assert names == {"lost", "failing"}
        stats = sbx.stats()
        assert stats["creates"] == {"lost": 1, "failing": 1}
        assert stats["createCalls"] == 4
        assert stats["faults"] == {
            "rateLimited": 1,
            "errors": 1,
            "lostCreates": 1,
            "failedModels": 1,
        }
        assert sbx.client.post("/_sandbox/faults", json={"bogus": 1}).status_code == 400


def test_latency_delays_api_requests_but_not_admin_ones() -> None:
    with start_sandbox("--latency-ms", "300") as sbx:
        started = time.monotonic()
        sbx.client.get("/v1/models")
        # Only a lower bound: the request cannot have been answered before the delay.
        assert time.monotonic() - started >= 0.3
        assert json.loads(json.dumps(sbx.stats()["knobs"]))["latencyMs"] == 300
