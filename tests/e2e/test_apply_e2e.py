"""The reconcile path end to end: the real CLI against the real sandbox over loopback.

new set -> create -> no-op -> changed gpuCount -> replace -> removed manifest kept,
then deleted with --prune; lost create responses; secrets never leak.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import assert_clean_failure, run_cli, write_manifest
from tests.support.sandbox import start_sandbox

pytestmark = pytest.mark.e2e


def live(sandbox):
    return {
        m["modelName"]: m["modelId"]
        for m in sandbox.list_models()
        if m["status"] != "MODEL_STATUS_DELETED"
    }


def state_ids(state: Path):
    document = json.loads(state.read_text())
    return {name: entry["modelId"] for name, entry in document["entries"].items()}


def plan_json(args, env):
    result = run_cli(["plan", *args, "--output", "json", "--detailed-exitcode"], env=env)
    assert "Traceback" not in result.stderr
    return result.returncode, json.loads(result.stdout) if result.stdout else None


def test_full_lifecycle(sandbox, tmp_path):
    manifests, state = tmp_path / "manifests", tmp_path / "state.json"
    for name in ("alpha", "beta", "gamma"):
        write_manifest(manifests, name)
    env = sandbox.env
    args = [str(manifests), "--state", str(state)]

    code, plan = plan_json(args, env)
    counts = {key: plan["summary"][key] for key in ("create", "replace", "delete", "noop")}
    assert code == 2 and counts == {"create": 3, "replace": 0, "delete": 0, "noop": 0}
    # Priced by the sandbox's pricing API (contract §7): 3 x 1 H100 on Nebius at 2.95/h.
    hourly = {"currency": "USD", "before": "0.00", "after": "8.85", "difference": "+8.85"}
    assert plan["summary"]["cost"]["hourly"] == [hourly]
    assert not state.exists()  # plan changes nothing

    applied = run_cli(["apply", *args, "--no-wait"], env=env)
    assert applied.returncode == 0, applied.stderr
    assert sandbox.stats()["creates"] == {"alpha": 1, "beta": 1, "gamma": 1}
    assert state_ids(state) == live(sandbox)

    code, plan = plan_json(args, env)
    assert code == 0 and plan["summary"]["noop"] == 3

    write_manifest(manifests, "beta", gpuCount=2)
    code, plan = plan_json(args, env)
    change = next(c for c in plan["changes"] if c["name"] == "beta")
    assert code == 2 and change["action"] == "replace" and change["fields"] == ["gpuCount"]
    old_beta = state_ids(state)["beta"]
    replaced = run_cli(["apply", *args, "--no-wait", "--output", "json"], env=env)
    assert replaced.returncode == 0, replaced.stderr
    result = json.loads(replaced.stdout)
    assert {c["name"]: c.get("result") for c in result["changes"]}["beta"] == "replaced"
    deleted = {m["modelId"] for m in sandbox.list_models() if m["status"] == "MODEL_STATUS_DELETED"}
    assert old_beta in deleted
    assert state_ids(state) == live(sandbox) and state_ids(state)["beta"] != old_beta

    (manifests / "gamma.yaml").unlink()
    kept = run_cli(["apply", *args, "--no-wait", "--output", "json"], env=env)
    assert kept.returncode == 0
    gamma = next(c for c in json.loads(kept.stdout)["changes"] if c["name"] == "gamma")
    assert gamma["action"] == "delete" and gamma["skipped"] is True
    assert "gamma" in live(sandbox) and "gamma" in state_ids(state)

    pruned = run_cli(["apply", *args, "--no-wait", "--prune"], env=env)
    assert pruned.returncode == 0, pruned.stderr
    assert "gamma" not in live(sandbox) and "gamma" not in state_ids(state)
    assert sandbox.stats()["creates"] == {"alpha": 1, "beta": 2, "gamma": 1}

    # apply --dry-run is exactly plan
    planned = run_cli(["plan", *args, "--detailed-exitcode"], env=env)
    dry_run = run_cli(["apply", *args, "--dry-run", "--detailed-exitcode"], env=env)
    assert planned.returncode == dry_run.returncode == 0
    assert planned.stdout == dry_run.stdout and "No changes" in planned.stdout


def test_wait_until_up(tmp_path):
    with start_sandbox(ready_after=0.5) as sandbox:
        manifests, state = tmp_path / "m", tmp_path / "state.json"
        write_manifest(manifests, "waiter")
        result = run_cli(["apply", str(manifests), "--state", str(state)], env=sandbox.env)
        assert result.returncode == 0, result.stderr
        entry = json.loads(state.read_text())["entries"]["waiter"]
        assert entry["status"] == "MODEL_STATUS_UP"


def test_lost_create_responses_still_one_deployment_each(tmp_path):
    with start_sandbox("--lose-create-rate", "1") as sandbox:
        manifests, state = tmp_path / "m", tmp_path / "state.json"
        names = [f"lost-{i}" for i in range(6)]
        for name in names:
            write_manifest(manifests, name)
        result = run_cli(
            ["apply", str(manifests), "--state", str(state), "--no-wait", "--concurrency", "3"],
            env=sandbox.env,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        stats = sandbox.stats()
        assert stats["faults"]["lostCreates"] == 6
        assert stats["creates"] == {name: 1 for name in names}
        assert state_ids(state) == live(sandbox)


def test_secrets_never_leak(sandbox, tmp_path):
    hf, key = "hf_e2e_SECRET_value_123", "sk-e2e-SECRET-456"
    manifests, state = tmp_path / "m", tmp_path / "state.json"
    write_manifest(
        manifests,
        "secretive",
        hfToken={"fromEnv": "E2E_HF_TOKEN"},
        apiKey={"fromFile": "key.txt"},
    )
    (manifests / "key.txt").write_text(key + "\n")
    env = {**sandbox.env, "E2E_HF_TOKEN": hf}
    outputs = []
    for args in (
        ["plan", str(manifests), "--state", str(state)],
        ["plan", str(manifests), "--state", str(state), "--output", "json"],
        ["apply", str(manifests), "--state", str(state), "--no-wait"],
        ["apply", str(manifests), "--state", str(state), "--no-wait", "--output", "json"],
        ["state", "list", "--state", str(state), "--output", "json"],
        ["state", "show", "secretive", "--state", str(state)],
    ):
        result = run_cli(args, env=env)
        assert result.returncode == 0, result.stderr
        outputs += [result.stdout, result.stderr]
    outputs.append(state.read_text())
    for text in outputs:
        assert hf not in text and key not in text and sandbox.token not in text
    entry = json.loads(state.read_text())["entries"]["secretive"]
    assert set(entry["secrets"]) == {"apiKey", "hfToken"}

    # A rotated secret shows as a replace, by field name only.
    rotated = run_cli(
        ["plan", str(manifests), "--state", str(state), "--output", "json"],
        env={**env, "E2E_HF_TOKEN": "hf_rotated_SECRET"},
    )
    change = json.loads(rotated.stdout)["changes"][0]
    assert change["action"] == "replace" and change["fields"] == ["hfToken"]
    assert "hf_rotated_SECRET" not in rotated.stdout + rotated.stderr


def test_missing_secret_stops_before_any_call(sandbox, tmp_path):
    manifests, state = tmp_path / "m", tmp_path / "state.json"
    write_manifest(manifests, "one", hfToken={"fromEnv": "NOT_SET_ONE"})
    write_manifest(manifests, "two", apiKey={"fromFile": "missing.txt"})
    result = run_cli(["apply", str(manifests), "--state", str(state)], env=sandbox.env)
    assert_clean_failure(result)
    assert "NOT_SET_ONE" in result.stderr and "missing.txt" in result.stderr
    assert sandbox.stats()["createCalls"] == 0


def test_wrong_token_is_a_clean_error(sandbox, tmp_path):
    manifests, state = tmp_path / "m", tmp_path / "state.json"
    write_manifest(manifests, "one")
    wrong = run_cli(
        ["apply", str(manifests), "--state", str(state)],
        env={**sandbox.env, "TENSORMESH_CONTROL_PLANE_TOKEN": "wrong"},
    )
    assert_clean_failure(wrong)
    assert "TENSORMESH_CONTROL_PLANE_TOKEN" in wrong.stdout + wrong.stderr
    assert sandbox.stats()["createCalls"] == 0
