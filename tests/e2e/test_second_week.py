"""The second week end to end: the real CLI against the real sandbox over loopback.

Failed deploys remembered, --replace, selection, guard rails (with a pseudo-terminal for the
question), a second actor (on-call scales a model by hand while a scheduled reconcile runs),
unmanaged models in scope, drift with values, preflight, messages, output schemas.
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.cli import assert_clean_failure, run_cli, write_manifest
from tests.support.output_schemas import PLAN_OUTPUT, RECONCILE_OUTPUT, validate_output
from tests.support.sandbox import PROJECT_ROOT, SandboxProcess, start_sandbox

pytestmark = pytest.mark.e2e


def live(sandbox: SandboxProcess) -> dict[str, dict[str, Any]]:
    return {
        m["modelName"]: m for m in sandbox.list_models() if m["status"] != "MODEL_STATUS_DELETED"
    }


def entries(state: Path) -> dict[str, dict[str, Any]]:
    document: dict[str, dict[str, Any]] = json.loads(state.read_text())["entries"]
    return document


def edit(path: Path, **changes: Any) -> None:
    """Change a manifest: `labels=`, `reconcile=`, or spec fields."""
    document = yaml.safe_load(path.read_text())
    if "labels" in changes:
        document["metadata"]["labels"] = changes.pop("labels")
    if "reconcile" in changes:
        value = changes.pop("reconcile")
        if value is None:
            document.pop("reconcile", None)
        else:
            document["reconcile"] = value
    document["spec"].update(changes)
    path.write_text(yaml.safe_dump(document, sort_keys=False))


@pytest.fixture
def world(sandbox: SandboxProcess, tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    manifests, state = tmp_path / "manifests", tmp_path / "state.json"
    for name in ("alpha", "beta", "gamma"):
        write_manifest(manifests, name)
    applied = run_cli(["apply", str(manifests), "--state", str(state)], env=sandbox.env)
    assert applied.returncode == 0, applied.stderr
    return manifests, state, sandbox.env


def cli(world: tuple[Path, Path, dict[str, str]], *args: str) -> subprocess.CompletedProcess[str]:
    manifests, state, env = world
    command, *rest = args
    result = run_cli([command, str(manifests), "--state", str(state), *rest], env=env)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def plan_json(world: tuple[Path, Path, dict[str, str]], *args: str) -> tuple[int, dict[str, Any]]:
    result = cli(world, "plan", "--output", "json", *args)
    document = json.loads(result.stdout)
    validate_output(PLAN_OUTPUT, document)  # the published schema holds for real output
    return result.returncode, document


def reconcile_json(
    world: tuple[Path, Path, dict[str, str]], *args: str
) -> tuple[int, dict[str, Any]]:
    result = cli(world, "reconcile", "--once", "--output", "json", *args)
    (line,) = result.stdout.splitlines()
    document = json.loads(line)
    validate_output(RECONCILE_OUTPUT, document)
    return result.returncode, document


def requests(sandbox: SandboxProcess) -> int:
    count: int = sandbox.stats()["requests"]
    return count


# -- failed is remembered ------------------------------------------------------


def test_a_failed_deploy_is_remembered_until_replaced(sandbox, tmp_path) -> None:
    manifests, state = tmp_path / "m", tmp_path / "state.json"
    write_manifest(manifests, "alpha")
    world = (manifests, state, sandbox.env)
    sandbox.set_faults(failRate=1)
    first = cli(world, "apply")
    assert first.returncode == 1 and "MODEL_STATUS_FAILED" in first.stdout
    assert "MODEL_STATUS_FAILED" in entries(state)["alpha"]["lastDeployFailed"]

    # Re-running the red CI job does not turn it green.
    code, plan = plan_json(world, "--detailed-exitcode")
    (change,) = plan["changes"]
    assert code == 2 and change["action"] == "replace" and "failed" in change["reason"]
    assert "last deploy failed" in cli(world, "plan").stdout

    sandbox.set_faults(failRate=0)
    again = cli(world, "apply", "--output", "json")
    assert again.returncode == 0, again.stderr
    assert [c["result"] for c in json.loads(again.stdout)["changes"]] == ["replaced"]
    assert "lastDeployFailed" not in entries(state)["alpha"]
    assert plan_json(world, "--detailed-exitcode")[0] == 0


def test_not_up_within_the_wait_timeout_is_remembered(tmp_path) -> None:
    with start_sandbox(ready_after=30) as slow:
        manifests, state = tmp_path / "m", tmp_path / "state.json"
        write_manifest(manifests, "alpha")
        world = (manifests, state, slow.env)
        applied = cli(world, "apply", "--wait-timeout", "1")
        assert applied.returncode == 1 and "not MODEL_STATUS_UP within 1s" in applied.stdout
        assert "not MODEL_STATUS_UP" in entries(state)["alpha"]["lastDeployFailed"]
        listed = run_cli(["state", "list", "--state", str(state), "--output", "json"])
        assert "lastDeployFailed" in json.loads(listed.stdout)[0]


def test_replace_forces_a_healthy_entry(sandbox, world) -> None:
    before = entries(world[1])["alpha"]["modelId"]
    code, plan = plan_json(world, "--replace", "alpha", "--detailed-exitcode")
    changes = {c["name"]: c for c in plan["changes"]}
    assert code == 2 and changes["alpha"]["reason"] == "forced by --replace"
    assert changes["beta"]["action"] == "noop"
    applied = cli(world, "apply", "--replace", "alpha")
    assert applied.returncode == 0, applied.stderr
    assert entries(world[1])["alpha"]["modelId"] != before
    typo = cli(world, "plan", "--replace", "alpah")
    assert_clean_failure(typo)
    assert "alpah" in typo.stderr


# -- selection -----------------------------------------------------------------


def test_target_exclude_selector_and_the_count_left_out(sandbox, tmp_path) -> None:
    manifests, state = tmp_path / "m", tmp_path / "state.json"
    for name in ("alpha", "alpine", "beta"):
        write_manifest(manifests, name)
    edit(manifests / "beta.yaml", labels={"team": "search"})
    world = (manifests, state, sandbox.env)

    _, plan = plan_json(world, "--target", "al*", "--exclude", "alpine")
    assert [c["name"] for c in plan["changes"]] == ["alpha"] and plan["excluded"] == 2
    assert "2 left out" in cli(world, "plan", "--target", "al*", "--exclude", "alpine").stdout
    _, plan = plan_json(world, "--selector", "team=search")
    assert [c["name"] for c in plan["changes"]] == ["beta"] and plan["excluded"] == 2

    applied = cli(world, "apply", "--target", "al*", "--no-wait")
    assert applied.returncode == 0, applied.stderr
    assert sorted(live(sandbox)) == ["alpha", "alpine"]
    assert sorted(entries(state)) == ["alpha", "alpine"]

    # An excluded entry is never pruned, even with its manifest gone.
    (manifests / "alpine.yaml").unlink()
    pruned = cli(world, "apply", "--prune", "--exclude", "alpine", "--no-wait", "--output", "json")
    assert pruned.returncode == 0, pruned.stderr
    assert "alpine" in live(sandbox) and "alpine" in entries(state)
    code, report = reconcile_json(world, "--exclude", "alpine", "--prune")
    assert (code, report["excluded"]) == (0, 1) and "alpine" in live(sandbox)


# -- guard rails -----------------------------------------------------------------


def test_max_destroy_and_protect_refuse_before_any_call(sandbox, world) -> None:
    manifests, state, _ = world
    for name in ("alpha", "beta"):
        edit(manifests / f"{name}.yaml", gpuCount=2)
    before, calls = state.read_bytes(), requests(sandbox)
    refused = cli(world, "apply", "--max-destroy", "1")
    assert_clean_failure(refused)
    assert "--max-destroy 1" in refused.stderr and "alpha, beta" in refused.stderr
    assert requests(sandbox) == calls  # no API call at all
    assert state.read_bytes() == before

    edit(manifests / "beta.yaml", reconcile={"protect": True})
    protected = cli(world, "apply", "--max-destroy", "5")
    assert_clean_failure(protected)
    assert "beta (replace)" in protected.stderr and "protect" in protected.stderr
    healed = cli(world, "reconcile", "--once")
    assert healed.returncode == 1 and "beta (replace)" in healed.stdout
    assert state.read_bytes() == before

    edit(manifests / "beta.yaml", reconcile=None)  # removing the line lifts it
    allowed = cli(world, "apply", "--max-destroy", "2")
    assert allowed.returncode == 0, allowed.stderr


def _run_on_terminal(args: list[str], env: dict[str, str], answer: str | None) -> tuple[int, str]:
    """Run the CLI with stdin, stdout and stderr on a pseudo-terminal; answer its question."""
    controller, terminal = pty.openpty()
    full_env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "NO_COLOR": "1", **env}
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", *args],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        cwd=PROJECT_ROOT,
        env=full_env,
    )
    os.close(terminal)
    seen = b""
    answered = False
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(controller, 4096)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk
            if answer is not None and not answered and b"Type 'yes'" in seen:
                os.write(controller, answer.encode() + b"\n")
                answered = True
            if proc.poll() is not None and not ready:
                break
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(controller)
    return code, seen.decode(errors="replace")


def test_on_a_terminal_apply_asks_before_replacing(sandbox, world) -> None:
    manifests, state, env = world
    edit(manifests / "alpha.yaml", gpuCount=2)
    args = ["apply", str(manifests), "--state", str(state)]
    before = state.read_bytes()

    code, screen = _run_on_terminal(args, env, "no")
    assert code == 1 and "Type 'yes'" in screen and "not approved" in screen
    assert "forces replacement: gpuCount" in screen and "downtime" in screen
    assert state.read_bytes() == before and live(sandbox)["alpha"]["gpuCount"] in (1, "1")

    code, screen = _run_on_terminal(args, env, "yes")
    assert code == 0, screen
    assert live(sandbox)["alpha"]["gpuCount"] in (2, "2")

    edit(manifests / "alpha.yaml", gpuCount=1)
    code, screen = _run_on_terminal([*args, "--auto-approve"], env, None)
    assert code == 0 and "Type 'yes'" not in screen


def test_off_a_terminal_nothing_is_asked(sandbox, world) -> None:
    edit(world[0] / "alpha.yaml", gpuCount=2)
    applied = cli(world, "apply")  # pipes, as in CI
    assert applied.returncode == 0 and "Type 'yes'" not in applied.stderr + applied.stdout


# -- self-heal that cannot surprise: a second actor --------------------------------


def test_on_call_scales_by_hand_while_a_scheduled_reconcile_runs(sandbox, world) -> None:
    state = world[1]
    alpha = entries(state)["alpha"]["modelId"]
    sandbox.patch_model(alpha, {"gpuCount": 2})  # on-call, by hand, at 3 a.m.
    sandbox.delete_model(entries(state)["gamma"]["modelId"])  # and gamma is gone

    code, report = reconcile_json(world, "--detailed-exitcode")  # the cron job
    assert code == 2
    drift = {item["name"]: item for item in report["drift"]}
    assert drift["alpha"]["fields"] == [{"field": "gpuCount", "live": 2, "wanted": 1}]
    assert not drift["alpha"]["corrected"] and "--heal-changed" in drift["alpha"]["reason"]
    assert drift["gamma"]["corrected"]  # missing is still recreated
    assert entries(state)["alpha"]["modelId"] == alpha == live(sandbox)["alpha"]["modelId"]

    text = cli(world, "reconcile", "--once", "--detect-only")
    assert "gpuCount: 2 live, wanted 1" in text.stdout
    refreshed = cli(world, "plan", "--refresh")
    assert "~ alpha" in refreshed.stdout and "drift changed" in refreshed.stdout

    code, report = reconcile_json(world, "--heal-changed")
    assert code == 0 and [c["name"] for c in report["corrections"]] == ["alpha"]
    assert live(sandbox)["alpha"]["gpuCount"] in (1, "1")


# -- unmanaged in scope --------------------------------------------------------------


def test_unmanaged_models_can_be_ignored(sandbox, world) -> None:
    manifests = world[0]
    body = {
        "userId": sandbox.user_id,
        "modelPath": "Qwen/Qwen2.5-7B-Instruct",
        "gpuType": "GPU_TYPE_A100",
        "gpuCount": 1,
        "infra": {"cloudProvider": "CLOUD_PROVIDER_NEBIUS"},
    }
    sandbox.create_model({**body, "modelName": "other-repo-a"})
    sandbox.create_model({**body, "modelName": "other-repo-b"})
    code, report = reconcile_json(world, "--detailed-exitcode")
    assert code == 2 and len(report["drift"]) == 2
    _, plan = plan_json(world, "--refresh")
    assert [u["name"] for u in plan["unmanaged"]] == ["other-repo-a", "other-repo-b"]
    assert "unmanaged" in cli(world, "plan", "--refresh").stdout

    code, report = reconcile_json(world, "--detailed-exitcode", "--unmanaged", "ignore")
    assert (code, report["drift"]) == (0, [])
    (manifests / ".tensormeshignore").write_text("# another repo's models\nother-repo-*\n")
    code, report = reconcile_json(world, "--detailed-exitcode")
    assert (code, report["drift"]) == (0, [])
    assert plan_json(world, "--refresh")[1]["unmanaged"] == []
    assert {"other-repo-a", "other-repo-b"} <= set(live(sandbox))  # never touched


# -- a pass refreshes the recorded status ----------------------------------------------


def test_a_pass_without_drift_records_the_live_status(sandbox, tmp_path) -> None:
    manifests, state = tmp_path / "m", tmp_path / "state.json"
    write_manifest(manifests, "alpha")
    world = (manifests, state, sandbox.env)
    assert cli(world, "apply", "--no-wait").returncode == 0
    assert entries(state)["alpha"]["status"] == "MODEL_STATUS_INIT"
    deadline = time.monotonic() + 20
    while live(sandbox)["alpha"]["status"] != "MODEL_STATUS_UP":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    code, report = reconcile_json(world, "--detailed-exitcode")
    assert (code, report["drift"]) == (0, [])
    listed = run_cli(["state", "list", "--state", str(state), "--output", "json"])
    assert json.loads(listed.stdout)[0]["status"] == "MODEL_STATUS_UP"


# -- preflight, saved plans, messages ------------------------------------------------------


def test_plan_preflight_warnings_and_where_a_saved_plan_went(sandbox, tmp_path) -> None:
    manifests, state = tmp_path / "m", tmp_path / "state.json"
    write_manifest(manifests, "alpha", hfToken={"fromEnv": "HF_TOKEN_FOR_TEST"})
    world = (manifests, state, {**sandbox.env, "HF_TOKEN_FOR_TEST": ""})
    out = tmp_path / "plan.bin"
    planned = cli(world, "plan", "--out", str(out))
    assert planned.returncode == 0
    assert f"state file {state} does not exist" in planned.stderr
    assert "rotation not checked; apply will fail unless HF_TOKEN_FOR_TEST is set" in (
        planned.stderr
    )
    assert f"apply --plan {out} --state {state}" in planned.stderr
    assert "HF_TOKEN_FOR_TEST" not in planned.stdout or "fromEnv" in planned.stdout


def test_an_api_400_names_the_manifest_line_of_the_field(sandbox, tmp_path) -> None:
    manifests, state = tmp_path / "m", tmp_path / "state.json"
    path = write_manifest(manifests, "alpha", infra={"cloudProvider": "CLOUD_PROVIDER_MARS"})
    line = next(
        number
        for number, text in enumerate(path.read_text().splitlines(), 1)
        if "cloudProvider" in text
    )
    # No price exists on that provider: --allow-unpriced lets the request reach the API.
    applied = cli((manifests, state, sandbox.env), "apply", "--allow-unpriced")
    assert applied.returncode == 1
    assert f"{path}:{line}:" in applied.stdout, applied.stdout
    assert "cloudProvider" in applied.stdout


def test_connection_errors_print_the_url_tried(tmp_path) -> None:
    manifests = tmp_path / "m"
    write_manifest(manifests, "alpha")
    env = {
        "TENSORMESH_CONTROL_PLANE_BASE_URL": "http://127.0.0.1:1",
        "TENSORMESH_CONTROL_PLANE_TOKEN": "t",
        "TENSORMESH_RETRY_BUDGET": "0",
    }
    result = run_cli(["apply", str(manifests), "--state", str(tmp_path / "s.json")], env=env)
    assert result.returncode == 1
    assert "http://127.0.0.1:1" in result.stderr + result.stdout


def test_a_state_file_with_conflict_markers_says_how_out(sandbox, world) -> None:
    state = world[1]
    text = state.read_text()
    state.write_text(f"<<<<<<< HEAD\n{text}=======\n{text}>>>>>>> feature\n")
    result = cli(world, "plan")
    assert_clean_failure(result)
    assert "conflict markers" in result.stderr and "state merge-driver" in result.stderr


def test_state_unlock_of_an_unlocked_state_says_so(world) -> None:
    result = run_cli(["state", "unlock", "--state", str(world[1])])
    assert result.returncode == 0 and "was not locked" in result.stdout


def test_a_saved_plan_of_one_target_is_carried_out_exactly(sandbox, world) -> None:
    manifests, state, _ = world
    for name in ("alpha", "beta"):
        edit(manifests / f"{name}.yaml", gpuCount=2)
    out = state.parent / "alpha.plan"
    planned = cli(world, "plan", "--target", "alpha", "--out", str(out))
    assert planned.returncode == 0 and "2 left out" in planned.stdout
    applied = run_cli(["apply", "--plan", str(out), "--state", str(state)], env=world[2])
    assert applied.returncode == 0, applied.stderr
    now = live(sandbox)
    assert now["alpha"]["gpuCount"] in (2, "2") and now["beta"]["gpuCount"] in (1, "1")
