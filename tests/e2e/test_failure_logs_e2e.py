"""A failed model's deployment logs end to end: the real CLI against the sandbox, whose
logs endpoint serves the model's events."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import run_cli, write_manifest
from tests.support.sandbox import SandboxProcess, start_sandbox

pytestmark = pytest.mark.e2e


def test_failed_drift_shows_the_deployment_logs(sandbox: SandboxProcess, tmp_path: Path) -> None:
    manifests, state = tmp_path / "manifests", tmp_path / "state.json"
    write_manifest(manifests, "alpha")
    args = [str(manifests), "--state", str(state)]
    assert run_cli(["apply", *args], env=sandbox.env).returncode == 0
    model_id = json.loads(state.read_text())["entries"]["alpha"]["modelId"]
    sandbox.fail_model(model_id)

    detect = ["reconcile", *args, "--once", "--detect-only"]
    result = run_cli([*detect, "--output", "json"], env=sandbox.env)
    assert result.returncode == 0, result.stderr
    (item,) = json.loads(result.stdout)["drift"]
    assert item["kind"] == "failed"
    assert 1 <= len(item["logs"]) <= 5
    assert any("created" in line for line in item["logs"])
    assert "MODEL_STATUS_FAILED" in item["logs"][-1]  # the newest line last

    text = run_cli(detect, env=sandbox.env)
    assert "recent logs of alpha:" in text.stdout
    assert item["logs"][-1] in text.stdout


def test_a_failed_apply_names_the_logs(tmp_path: Path) -> None:
    with start_sandbox("--fail-rate", "1") as sandbox:
        manifests, state = tmp_path / "manifests", tmp_path / "state.json"
        write_manifest(manifests, "alpha")
        result = run_cli(
            ["apply", str(manifests), "--state", str(state), "--output", "json"], env=sandbox.env
        )
    assert result.returncode == 1
    (change,) = json.loads(result.stdout)["changes"]
    assert change["result"] == "failed"
    assert "recent logs:" in change["error"] and "CUDA out of memory" in change["error"]
