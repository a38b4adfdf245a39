"""The reconciler against sandboxes that answer with other guesses about the real API.

Real CLI, real sandbox over loopback: a failure under another status name is still a failure
(apply and reconcile), and neither the emitted zero values ("", "0") nor their omission, nor
regions, are drift.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import run_cli, write_manifest
from tests.support.sandbox import start_sandbox

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("failed_status", ["MODEL_STATUS_ERROR", "MODEL_STATUS_CRASHED"])
def test_a_failure_under_another_name_fails_apply_and_is_failed_drift(
    tmp_path: Path, failed_status: str
) -> None:
    manifests, state = tmp_path / "m", tmp_path / "state.json"
    write_manifest(manifests, "alpha")
    args = [str(manifests), "--state", str(state)]
    with start_sandbox("--failed-status", failed_status, "--fail-rate", "1") as sbx:
        applied = run_cli(["apply", *args, "--output", "json", "--wait-timeout", "30"], env=sbx.env)
        assert applied.returncode == 1, applied.stderr
        (change,) = json.loads(applied.stdout)["changes"]
        assert change["result"] == "failed"
        assert failed_status in change["error"]
        passed = run_cli(
            ["reconcile", *args, "--once", "--detect-only", "--output", "json"], env=sbx.env
        )
        report = json.loads(passed.stdout.splitlines()[0])
        assert [(d["name"], d["kind"]) for d in report["drift"]] == [("alpha", "failed")]


@pytest.mark.parametrize("zero_values", [(), ("--omit-zero-values", "--strict-requests")])
def test_zero_values_either_way_are_no_drift(tmp_path: Path, zero_values: tuple[str, ...]) -> None:
    manifests, state = tmp_path / "m", tmp_path / "state.json"
    write_manifest(manifests, "plain")
    write_manifest(
        manifests,
        "regional",
        description="with a region",
        infra={"cloudProvider": "CLOUD_PROVIDER_NEBIUS", "nebiusRegion": "NEBIUS_REGION_EU"},
        kvCacheEnabled=True,
    )
    args = [str(manifests), "--state", str(state)]
    with start_sandbox(*zero_values) as sbx:
        assert run_cli(["apply", *args], env=sbx.env).returncode == 0
        listed = sbx.list_models()
        if not zero_values:
            assert {m["replicas"] for m in listed} == {"1"}
            assert {m["infra"]["lambdaRegion"] for m in listed} == {""}
        passed = run_cli(
            ["reconcile", *args, "--once", "--detailed-exitcode", "--output", "json"],
            env=sbx.env,
        )
        assert passed.returncode == 0, passed.stdout + passed.stderr
        assert json.loads(passed.stdout.splitlines()[0])["drift"] == []
        planned = run_cli(["plan", *args, "--refresh", "--detailed-exitcode"], env=sbx.env)
        assert planned.returncode == 0, planned.stdout + planned.stderr
