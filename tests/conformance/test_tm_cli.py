"""The official `tm` CLI (pinned SDK, TENSORMESH_ENABLE_ON_DEMAND=1) against the sandbox.

`tm` reads its token from auth.json under TM_CONFIG_HOME, never from
TENSORMESH_CONTROL_PLANE_TOKEN; each test writes one. Every answer must be JSON `tm` prints,
every error a clean exit 1 naming the status and the request id.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conformance.sdk_env import SdkEnv
from tests.support.sandbox import SandboxProcess

MODEL: dict[str, Any] = {
    "modelPath": "meta-llama/Llama-3.1-8B-Instruct",
    "gpuType": "GPU_TYPE_H100",
    "gpuCount": 1,
    "infra": {"cloudProvider": "CLOUD_PROVIDER_NEBIUS"},
}


@pytest.fixture
def sbx(sandbox: SandboxProcess) -> SandboxProcess:
    # The session's sandbox (tests/conftest.py), reset before each test.
    return sandbox


class Tm:
    def __init__(self, sdk: SdkEnv, sbx: SandboxProcess, home: Path) -> None:
        self.sdk, self.sbx, self.home = sdk, sbx, home
        self.login(sbx.token, "tmr-unknown")

    def login(self, access: str, refresh: str) -> None:
        # What `tm auth login` leaves behind.
        tokens = {"access_token": access, "refresh_token": refresh}
        (self.home / "auth.json").write_text(json.dumps(tokens), encoding="utf-8")

    def tokens(self) -> dict[str, Any]:
        return dict(json.loads((self.home / "auth.json").read_text(encoding="utf-8")))

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("TENSORMESH_", "TM_"))
        }
        env.update({"TM_CONFIG_HOME": str(self.home), "TENSORMESH_ENABLE_ON_DEMAND": "1"})
        base = ["--output", "json", "--controlplane-base", self.sbx.url]
        return subprocess.run(
            [str(self.sdk.tm), *base, *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )

    def json(self, *args: str) -> Any:
        done = self.run(*args)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def error(self, *args: str) -> str:
        done = self.run(*args)
        assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
        return done.stderr


@pytest.fixture
def tm(sdk_env: SdkEnv, sbx: SandboxProcess, tmp_path: Path) -> Tm:
    return Tm(sdk_env, sbx, tmp_path)


def test_deploy_get_list_delete(tm: Tm) -> None:
    request = json.dumps({**MODEL, "modelName": "tm-life", "description": ""})
    model = tm.json("models", "deploy", "--yes", "--json", request)["model"]
    assert (model["modelName"], model["status"], model["replicas"]) == (
        "tm-life",
        "MODEL_STATUS_INIT",
        "0",
    )
    got = tm.json("models", "get", model["modelId"])["model"]
    assert got["modelId"] == model["modelId"]
    listed = tm.json("models", "list")["models"]
    assert model["modelId"] in {m["modelId"] for m in listed}
    assert tm.json("models", "delete", model["modelId"], "--yes") == {}
    assert tm.json("models", "get", model["modelId"])["model"]["status"] == "MODEL_STATUS_DELETED"


def test_validate_name_check_and_search(tm: Tm) -> None:
    model = tm.sbx.create_model({**MODEL, "modelName": "tm-check"})
    assert tm.json("models", "validate-name", "--name", "tm-check") == {"isValid": False}
    assert tm.json("models", "validate-name", "--name", "tm-free") == {"isValid": True}
    check = tm.json("models", "check", "--json", json.dumps({"modelId": model["modelId"]}))
    assert check["requiredGpuMemoryGib"] > 0
    search = {"infra": {"cloudProvider": "CLOUD_PROVIDER_NEBIUS"}}
    found = tm.json("models", "search-by-infra", "--json", json.dumps(search))["models"]
    assert "tm-check" in {m["modelName"] for m in found}


def test_billing_balance_and_active_pricing(tm: Tm) -> None:
    assert tm.json("billing", "balance") == {
        "balance": {"currencyCode": "USD", "units": "100", "nanos": 0}
    }
    active = tm.json("billing", "pricing", "list", "--active-only")["pricing"]
    every = tm.json("billing", "pricing", "list")["pricing"]
    assert active and {row["isActive"] for row in active} == {True}
    assert len(every) > len(active)


def test_whoami_and_logs(tm: Tm) -> None:
    assert tm.json("auth", "whoami")["user"]["id"] == tm.sbx.user_id
    model = tm.sbx.create_model({**MODEL, "modelName": "tm-logs"})
    logs = tm.json("logs", model["deploymentId"], "--direction", "desc", "--limit", "5")["logs"]
    assert logs and logs[0]["message"]


def test_errors_exit_1_naming_status_and_request_id(tm: Tm) -> None:
    message = tm.error("models", "get", "4b1e0c5e-0000-0000-0000-000000000000")
    assert "HTTP 404" in message and "request_id=" in message
    message = tm.error(
        "models",
        "deploy",
        "--yes",
        "--json",
        json.dumps({**MODEL, "modelName": "tm-bad", "gpuCount": 0}),
    )
    assert "HTTP 400" in message and "gpuCount" in message
    tm.login("wrong-token", "tmr-unknown")
    message = tm.error("models", "list")
    assert "HTTP 401" in message and "tm auth login" in message


def test_a_rate_limit_and_a_server_error_are_clean_failures(tm: Tm) -> None:
    tm.sbx.set_faults(errorRate=1)
    try:
        assert "HTTP 503" in tm.error("models", "list")
    finally:
        tm.sbx.set_faults(errorRate=0)
    tm.sbx.set_faults(rateLimitEvery=1)
    try:
        assert "HTTP 429" in tm.error("models", "list")
    finally:
        tm.sbx.set_faults(rateLimitEvery=0)


def test_auth_refresh_rotates_the_token_in_auth_json(tm: Tm) -> None:
    issued = tm.sbx.client.post("/_sandbox/tokens", json={}).json()
    tm.login(issued["access_token"], issued["refresh_token"])
    done = tm.run("auth", "refresh")
    assert done.returncode == 0, done.stderr
    renewed = tm.tokens()
    assert renewed["access_token"] not in (issued["access_token"], tm.sbx.token)
    assert tm.json("models", "list")["models"] is not None
    tm.login(issued["access_token"], issued["refresh_token"])  # the retired pair
    assert "HTTP 401" in tm.error("models", "list")
