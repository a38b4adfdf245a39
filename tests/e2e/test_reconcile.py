"""Reconcile end to end: the real CLI against the real sandbox over loopback.

Out-of-band deletion, failure, PATCH and hand-made models are made through the sandbox's
API and admin endpoints; the reconciler only ever sees them through GET /v1/models.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import run_cli, start_cli, write_manifest
from tests.support.sandbox import PROJECT_ROOT, SandboxProcess

pytestmark = pytest.mark.e2e


def live(sandbox: SandboxProcess) -> dict[str, dict[str, Any]]:
    return {
        m["modelName"]: m for m in sandbox.list_models() if m["status"] != "MODEL_STATUS_DELETED"
    }


def state_ids(state: Path) -> dict[str, str]:
    document = json.loads(state.read_text())
    return {name: entry["modelId"] for name, entry in document["entries"].items()}


def reconcile(args: list[str], env: dict[str, str], *extra: str) -> tuple[int, dict[str, Any]]:
    result = run_cli(["reconcile", *args, "--once", "--output", "json", *extra], env=env)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout  # one JSON object per pass, on one line
    return result.returncode, json.loads(lines[0])


def kinds(report: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["kind"] for item in report["drift"]}


@pytest.fixture
def world(sandbox: SandboxProcess, tmp_path: Path) -> tuple[list[str], dict[str, str], Path]:
    manifests, state = tmp_path / "manifests", tmp_path / "state.json"
    for name in ("alpha", "beta", "gamma"):
        write_manifest(manifests, name)
    args = [str(manifests), "--state", str(state)]
    applied = run_cli(["apply", *args], env=sandbox.env)  # waits for UP: a settled world
    assert applied.returncode == 0, applied.stderr
    return args, sandbox.env, state


def test_missing_is_detected_without_changes_then_restored(sandbox, world) -> None:
    args, env, state = world
    # No phantom drift: the sandbox's int64 strings and omitted zero fields are no diff.
    code, report = reconcile(args, env, "--detailed-exitcode")
    assert (code, report["drift"], report["ok"]) == (0, [], True)

    sandbox.delete_model(state_ids(state)["alpha"])
    before, creates = state.read_bytes(), sandbox.stats()["createCalls"]
    code, report = reconcile(args, env, "--detect-only", "--detailed-exitcode")
    assert code == 2
    assert kinds(report) == {"alpha": "missing"}
    assert report["drift"][0]["corrected"] is False
    assert state.read_bytes() == before
    assert sandbox.stats()["createCalls"] == creates

    code, report = reconcile(args, env, "--detailed-exitcode")
    assert code == 2
    assert report["drift"][0]["corrected"] is True
    assert [c["result"] for c in report["corrections"]] == ["replaced"]
    assert state_ids(state)["alpha"] == live(sandbox)["alpha"]["modelId"]
    assert sandbox.stats()["creates"]["alpha"] == 2


def test_a_pass_that_heals_asks_who_am_i_once(sandbox, world) -> None:
    args, env, state = world
    sandbox.delete_model(state_ids(state)["alpha"])
    asked = sandbox.stats()["profileCalls"]
    # Detection, the price read and the correction share the command's one session.
    code, report = reconcile(args, env)
    assert code == 0, report
    assert [c["result"] for c in report["corrections"]] == ["replaced"]
    assert sandbox.stats()["profileCalls"] - asked == 1


def test_failed_changed_and_unmanaged_in_one_pass(sandbox, world) -> None:
    args, env, state = world
    ids = state_ids(state)
    sandbox.fail_model(ids["alpha"])
    sandbox.patch_model(ids["beta"], {"gpuCount": 2})
    by_hand = sandbox.create_model(
        {
            "modelName": "by-hand",
            "userId": sandbox.user_id,
            "modelPath": "Qwen/Qwen2.5-7B-Instruct",
            "gpuType": "GPU_TYPE_A100",
            "gpuCount": 1,
            "infra": {"cloudProvider": "CLOUD_PROVIDER_NEBIUS"},
        }
    )

    # By default a changed running model is reported with its values, not replaced.
    code, report = reconcile(args, env, "--detect-only")
    assert code == 0, report
    assert kinds(report) == {"alpha": "failed", "beta": "changed", "by-hand": "unmanaged"}
    changed = next(item for item in report["drift"] if item["name"] == "beta")
    assert changed["fields"] == [{"field": "gpuCount", "live": 2, "wanted": 1}]

    code, report = reconcile(args, env, "--heal-changed")
    assert code == 0, report
    assert kinds(report) == {"alpha": "failed", "beta": "changed", "by-hand": "unmanaged"}
    healed = {c["name"]: c["result"] for c in report["corrections"]}
    assert healed == {"alpha": "replaced", "beta": "replaced"}

    now_live, now_ids = live(sandbox), state_ids(state)
    assert now_ids["alpha"] != ids["alpha"] and now_ids["beta"] != ids["beta"]
    assert now_ids["alpha"] == now_live["alpha"]["modelId"]
    assert now_live["beta"]["gpuCount"] in ("1", 1)
    assert now_live["by-hand"]["modelId"] == by_hand["modelId"]  # left alone
    assert "by-hand" not in now_ids

    # Afterwards only the hand-made model is still reported.
    code, report = reconcile(args, env, "--detailed-exitcode")
    assert (code, kinds(report)) == (2, {"by-hand": "unmanaged"})


def test_self_heal_off_is_reported_not_corrected_and_plan_refresh_shows_drift(
    sandbox, world
) -> None:
    args, env, state = world
    gamma = Path(args[0]) / "gamma.yaml"
    gamma.write_text(gamma.read_text() + "reconcile:\n  selfHeal: false\n")
    ids = state_ids(state)
    sandbox.delete_model(ids["gamma"])
    sandbox.delete_model(ids["beta"])

    planned = run_cli(["plan", *args, "--refresh", "--output", "json"], env=env)
    assert planned.returncode == 0, planned.stderr
    changes = {c["name"]: c for c in json.loads(planned.stdout)["changes"]}
    assert (changes["beta"]["action"], changes["beta"]["drift"]) == ("replace", "missing")
    assert (changes["gamma"]["action"], changes["gamma"]["drift"]) == ("noop", "missing")
    text = run_cli(["plan", *args, "--refresh"], env=env)
    assert "(drift: missing)" in text.stdout
    dry_run = run_cli(["apply", *args, "--dry-run", "--refresh"], env=env)
    assert (dry_run.returncode, dry_run.stdout) == (text.returncode, text.stdout)
    refused = run_cli(["apply", *args, "--refresh"], env=env)
    assert refused.returncode == 1 and "reconcile" in refused.stderr

    code, report = reconcile(args, env)
    assert code == 0
    gamma_item = next(item for item in report["drift"] if item["name"] == "gamma")
    assert (gamma_item["corrected"], gamma_item["reason"]) == (False, "selfHeal is off")
    assert "gamma" not in live(sandbox)
    assert "beta" in live(sandbox)
    assert state_ids(state)["gamma"] == ids["gamma"]


def test_loop_heals_a_deletion_and_stops_on_sigterm(sandbox, world, tmp_path) -> None:
    args, env, state = world
    sandbox.delete_model(state_ids(state)["alpha"])
    metrics, log_path = tmp_path / "reconciler.prom", tmp_path / "stderr.log"
    flags = ["--interval", "1", "--output", "json", "--log-format", "json"]
    # stderr to a file: a full pipe would block the reconciler mid-pass.
    log_file = log_path.open("w")
    proc = start_cli(
        ["reconcile", *args, *flags, "--metrics-file", str(metrics)],
        stdout=subprocess.PIPE,
        stderr=log_file,
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT), **env},
    )
    try:
        assert proc.stdout is not None
        passes = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            passes.append(json.loads(line))
            if passes[-1]["drift"] == [] and len(passes) >= 2:
                break
        assert passes[0]["drift"][0]["kind"] == "missing"
        assert passes[-1]["drift"] == []  # healed, and the next pass saw nothing
        assert [p["pass"] for p in passes] == list(range(1, len(passes) + 1))
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log_file.close()
    assert code == 0
    assert state_ids(state)["alpha"] == live(sandbox)["alpha"]["modelId"]
    stderr = log_path.read_text()
    logs = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert any(entry.get("kind") == "missing" and entry.get("pass") == 1 for entry in logs)
    assert all({"ts", "level", "msg"} <= entry.keys() for entry in logs)
    assert 'tensormesh_reconciler_passes_total{result="ok"}' in metrics.read_text()
    assert sandbox.token not in stderr
