"""`adopt` end to end (issue 20): the real CLI against the real sandbox.

Models made by hand (straight through the API, with every field the API takes), by another
state, failed, deleted, and under names no manifest may carry; adopt writes a manifest per
model it may take, records them, and a `plan` right after shows no change without a single
API call. Run twice, dry-run, --secret, an existing file, hostile names, a held lock.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.adapters import state_file
from reconciler.sandbox.config import user_id_for
from reconciler.sandbox.records import StoredModel
from tests.support.cli import run_cli, start_cli, write_manifest
from tests.support.sandbox import PROJECT_ROOT, SandboxProcess, start_sandbox

pytestmark = pytest.mark.e2e

HF_VALUE = "hf_adopt_e2e_secret_value"
FULL = {
    "modelName": "llama-full",
    "modelPath": "meta-llama/Llama-3.1-8B-Instruct",
    "gpuType": "GPU_TYPE_H100",
    "gpuCount": "2",  # int64 as grpc-gateway accepts it
    "infra": {"cloudProvider": "CLOUD_PROVIDER_NEBIUS", "nebiusRegion": "NEBIUS_REGION_EU_NORTH1"},
    "description": "Chat for search\nsecond line: yes",
    "modelSpec": {"maxModelLen": "1e5", "args": ["--enforce-eager", 8192], "octal": "0o17"},
    "kvCacheEnabled": True,
    "cpuOffloadingEnabled": True,
    "nodeId": "node-a",
    "hfToken": HF_VALUE,
}
MINIMAL = {
    "modelName": "qwen-min",
    "modelPath": "Qwen/Qwen2.5-32B-Instruct",
    "gpuType": "GPU_TYPE_H200",
    "gpuCount": 4,
    "infra": {"cloudProvider": "CLOUD_PROVIDER_LAMBDA"},
}


def adopt(args: list[str], env: dict[str, str]) -> tuple[int, dict[str, Any], str]:
    result = run_cli(["adopt", *args, "--output", "json"], env=env)
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    assert "internal error" not in result.stderr, result.stderr
    return result.returncode, (json.loads(result.stdout) if result.stdout else {}), result.stderr


def results(document: dict[str, Any]) -> dict[str, str]:
    return {
        m["name"]: m["result"] if m["result"] == "adopted" else m["reasonCode"]
        for m in document["models"]
    }


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())} if folder.exists() else {}


def test_adopt_writes_manifests_that_plan_no_change_without_a_call(
    sandbox: SandboxProcess, tmp_path: Path
) -> None:
    out, state = tmp_path / "deploy" / "models", tmp_path / "tm.state.json"
    full = sandbox.create_model(FULL)
    sandbox.create_model(MINIMAL)
    failed = sandbox.create_model({**MINIMAL, "modelName": "broken"})
    sandbox.fail_model(failed["modelId"])
    gone = sandbox.create_model({**MINIMAL, "modelName": "gone"})
    sandbox.delete_model(gone["modelId"])
    # A model this very state made (its mark in the description), whose entry was forgotten.
    made = tmp_path / "made"
    write_manifest(made, "ours-again", description="Made by apply")
    applied = run_cli(["apply", str(made), "--state", str(state), "--no-wait"], env=sandbox.env)
    assert applied.returncode == 0, applied.stderr
    assert run_cli(["state", "rm", "ours-again", "--state", str(state)]).returncode == 0
    assert "managed-by: tensormesh-reconciler" in next(
        m["description"] for m in sandbox.list_models() if m["modelName"] == "ours-again"
    )
    env = {**sandbox.env, "HF_TOKEN": HF_VALUE}
    before = sandbox.stats()
    state_before = state.read_bytes()

    # --dry-run: the same report, nothing written or recorded.
    code, dry, _ = adopt(["--out", str(out), "--state", str(state), "--dry-run"], env)
    assert code == 0 and dry["dryRun"] is True
    assert not out.exists() and state.read_bytes() == state_before
    # --user: exactly one call (the list), no whoami; --target/--exclude narrow by name.
    requests = sandbox.stats()["requests"]
    narrowed = ["--target", "llama-*", "--target", "qwen-*", "--exclude", "qwen-*"]
    code, dry_user, _ = adopt(
        [
            "--out",
            str(out),
            "--state",
            str(state),
            "--dry-run",
            "--user",
            sandbox.user_id,
            *narrowed,
        ],
        env,
    )
    assert code == 0 and results(dry_user) == {"llama-full": "adopted"}
    assert dry_user["summary"]["notSelected"] == 4
    assert sandbox.stats()["requests"] - requests == 1
    assert not out.exists()

    code, document, _ = adopt(["--out", str(out), "--state", str(state)], env)
    assert code == 0, document
    expected = {
        "llama-full": "adopted",
        "qwen-min": "adopted",
        "ours-again": "adopted",
        "broken": "failed-status",
        "gone": "deleted",
    }
    assert results(document) == expected == results(dry)
    assert document["summary"] == {"adopted": 3, "skipped": 2, "failed": 0, "notSelected": 0}
    # Reads only: no deploy, no delete; one whoami and one list call per run.
    after = sandbox.stats()
    assert (after["createCalls"], after["deletes"]) == (before["createCalls"], before["deletes"])
    assert after["requests"] - before["requests"] == 5  # dry and real runs x 2, --user x 1

    # The files: named after the models, schema comment first, unreported fields commented.
    assert sorted(os.listdir(out)) == ["llama-full.yaml", "ours-again.yaml", "qwen-min.yaml"]
    text = (out / "llama-full.yaml").read_text()
    assert text.startswith("# yaml-language-server: $schema=")
    for field in ("kvCacheEnabled", "cpuOffloadingEnabled", "nodeId", "hfToken", "apiKey"):
        assert f"  # {field}: " in text and f"\n  {field}:" not in text
    assert "Chat for search" in text and HF_VALUE not in text
    assert full["modelId"] in text
    ours = (out / "ours-again.yaml").read_text()
    assert "description: Made by apply" in ours and "managed-by" not in ours

    validated = run_cli(["validate", str(out)])
    assert validated.returncode == 0, validated.stdout + validated.stderr

    # plan right after: no change, exit 0 with --detailed-exitcode, and no API call at all.
    requests = sandbox.stats()["requests"]
    planned = run_cli(
        ["plan", str(out), "--state", str(state), "--detailed-exitcode", "--output", "json"],
        env=env,
    )
    assert planned.returncode == 0, planned.stdout + planned.stderr
    plan = json.loads(planned.stdout)
    counts = {key: plan["summary"][key] for key in ("create", "replace", "delete", "noop")}
    assert counts == {"create": 0, "replace": 0, "delete": 0, "noop": 3}
    # No model call: the one request is the plan's price read (cost in every plan).
    assert sandbox.stats()["requests"] == requests + 1
    recorded = state_file.read_state(state)
    assert {n: e.model_id for n, e in recorded.entries.items()}["llama-full"] == full["modelId"]

    # A second run adopts nothing, exit 0, and touches no file.
    files = snapshot(out)
    code, again, _ = adopt(["--out", str(out), "--state", str(state)], env)
    assert code == 0 and again["summary"]["adopted"] == 0
    assert {m["reasonCode"] for m in again["models"]} == {
        "already-owned",
        "failed-status",
        "deleted",
    }
    assert snapshot(out) == files

    # The failed model, on request (deleted: never).
    code, failed_too, _ = adopt(["--out", str(out), "--state", str(state), "--include-failed"], env)
    assert code == 0 and results(failed_too)["broken"] == "adopted"
    assert results(failed_too)["gone"] == "deleted"


def test_secret_references_record_assumed_fingerprints(
    sandbox: SandboxProcess, tmp_path: Path
) -> None:
    out, state = tmp_path / "models", tmp_path / "state.json"
    sandbox.create_model(FULL)
    args = ["--out", str(out), "--state", str(state), "--secret", "hfToken=HF_TOKEN"]

    # The variable must be set: a clear error, nothing called, written or recorded.
    requests = sandbox.stats()["requests"]
    result = run_cli(["adopt", *args], env={**sandbox.env, "HF_TOKEN": ""})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "HF_TOKEN" in result.stderr and "not set" in result.stderr
    assert not out.exists() and not state.exists()
    assert sandbox.stats()["requests"] == requests
    bad = run_cli(["adopt", "--out", str(out), "--state", str(state), "--secret", "token=X"])
    assert bad.returncode == 1 and "hfToken" in bad.stderr

    env = {**sandbox.env, "HF_TOKEN": HF_VALUE}
    code, document, stderr = adopt(args, env)
    assert code == 0 and document["models"][0]["assumedSecrets"] == ["hfToken"]
    text = (out / "llama-full.yaml").read_text()
    assert "  hfToken:\n    fromEnv: HF_TOKEN\n" in text and "  # hfToken:" not in text
    assert "  # apiKey:" in text
    entry = state_file.read_state(state).entries["llama-full"]
    secret = entry.secrets["hfToken"]
    assert secret.assumed and secret.fingerprint and dict(secret.ref) == {"fromEnv": "HF_TOKEN"}
    for blob in (state.read_text(), json.dumps(document), stderr, text):
        assert HF_VALUE not in blob

    plan = ["plan", str(out), "--state", str(state), "--detailed-exitcode"]
    same = run_cli(plan, env=env)
    assert same.returncode == 0, same.stdout
    assert "assumed" in same.stdout
    rotated = run_cli(plan, env={**env, "HF_TOKEN": "another-value"})
    assert rotated.returncode == 2 and "hfToken" in rotated.stdout


def _stored(name: str, user: str, index: int) -> dict[str, Any]:
    return StoredModel(
        model_id=f"00000000-0000-4000-8000-{index:012d}",
        deployment_id=f"dep-{index:04d}",
        user_id=user,
        model_name=name,
        spec={
            "modelPath": "meta-llama/Llama-3.1-8B-Instruct",
            "gpuType": "GPU_TYPE_H100",
            "gpuCount": 1,
            "infra": {"cloudProvider": "CLOUD_PROVIDER_NEBIUS"},
        },
        created_at=1.0,
        ready_at=1.0,
        outcome="MODEL_STATUS_UP",
    ).to_json()


HOSTILE = ("Llama-8B", "llama_8b", "../../escape", "evil\x1b[2Jname", "x" * 70, "-dash")


@pytest.fixture
def hostile_sandbox(tmp_path: Path) -> Iterator[SandboxProcess]:
    """A control plane holding models under names the manifest schema refuses (an older
    API, another tool): loaded through the sandbox's --data file."""
    user = user_id_for("test-token")
    names = [*HOSTILE, "fine-model", "kept-file"]
    data = tmp_path / "sandbox.json"
    models = [_stored(name, user, index) for index, name in enumerate(names, start=1)]
    data.write_text(json.dumps({"version": 1, "models": models}))
    with start_sandbox("--data", str(data)) as process:
        yield process


def test_hostile_names_and_an_existing_file_are_reported_not_written(
    hostile_sandbox: SandboxProcess, tmp_path: Path
) -> None:
    out, state = tmp_path / "work" / "models", tmp_path / "state.json"
    out.mkdir(parents=True)
    (out / "kept-file.yaml").write_text("# mine, not adopt's\n")
    args = ["adopt", "--out", str(out), "--state", str(state)]
    code, document, _ = adopt(args[1:], hostile_sandbox.env)
    assert code == 0
    by_name = {m["name"]: m for m in document["models"]}
    assert by_name["fine-model"]["result"] == "adopted"
    assert by_name["kept-file"]["reasonCode"] == "file-exists"
    assert "never overwritten" in by_name["kept-file"]["reason"]
    assert (out / "kept-file.yaml").read_text() == "# mine, not adopt's\n"
    for name in HOSTILE:
        # An unprintable character arrives as U+FFFD: it can never come to equal a valid name.
        shown = "".join(char if char.isprintable() else "\ufffd" for char in name)
        assert by_name[shown]["reasonCode"] == "invalid-name", name
    assert "70 characters long" in by_name["x" * 70]["reason"]
    assert "'_'" in by_name["llama_8b"]["reason"]
    assert "start and end" in by_name["-dash"]["reason"]
    # Nothing but the one file was written, inside --out only.
    assert sorted(os.listdir(out)) == ["fine-model.yaml", "kept-file.yaml"]
    assert sorted(os.listdir(tmp_path / "work")) == ["models"]
    assert set(state_file.read_state(state).entries) == {"fine-model"}
    # The text report shows hostile names escaped: no terminal control reaches the screen.
    text = run_cli([*args, "--dry-run"], env=hostile_sandbox.env)
    assert text.returncode == 0 and "\x1b" not in text.stdout
    assert "evil\ufffd[2Jname" in text.stdout and "already owned" in text.stdout
    plan = run_cli(["plan", str(out / "fine-model.yaml"), "--state", str(state)])
    assert plan.returncode == 0 and "1 unchanged" in plan.stdout

    # An adopt interrupted between writing the file and recording the model (as if): the
    # next run recognises its own identical file and records the model from it.
    written = (out / "fine-model.yaml").read_bytes()
    assert run_cli(["state", "rm", "fine-model", "--state", str(state)]).returncode == 0
    code, resumed, _ = adopt(args[1:], hostile_sandbox.env)
    row = next(m for m in resumed["models"] if m["name"] == "fine-model")
    assert code == 0 and row["result"] == "adopted" and row["written"] is False
    assert (out / "fine-model.yaml").read_bytes() == written
    assert set(state_file.read_state(state).entries) == {"fine-model"}


def test_adopt_waits_for_an_apply_holding_the_lock(sandbox: SandboxProcess, tmp_path: Path) -> None:
    """A second actor: adopt queues behind an apply on the same state like any writer, then
    leaves the apply's models alone (they are owned) and adopts only the hand-made one."""
    out, state, made = tmp_path / "models", tmp_path / "state.json", tmp_path / "made"
    sandbox.create_model(MINIMAL)
    for index in range(3):
        write_manifest(made, f"applied-{index}")
    sandbox.set_faults(latencyMs=300)
    env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(PROJECT_ROOT), **sandbox.env}
    apply = start_cli(
        ["apply", str(made), "--state", str(state), "--no-wait", "--concurrency", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=PROJECT_ROOT, env=env,
    )  # fmt: skip
    info = Path(f"{state}.lock.info")
    deadline = time.monotonic() + 30
    while not info.exists():
        assert time.monotonic() < deadline and apply.poll() is None, "apply never took the lock"
        time.sleep(0.02)
    args = ["--out", str(out), "--state", str(state)]
    refused = run_cli(["adopt", *args, "--lock-timeout", "0.2"], env=sandbox.env)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "locked by `apply`" in refused.stderr and f"pid {apply.pid}" in refused.stderr
    code, document, _ = adopt([*args, "--lock-timeout", "60"], sandbox.env)
    assert apply.wait(60) == 0
    sandbox.set_faults(latencyMs=0)
    assert code == 0, document
    assert results(document) == {
        "qwen-min": "adopted",
        **{f"applied-{index}": "already-owned" for index in range(3)},
    }
    assert set(state_file.read_state(state).entries) == {
        "qwen-min",
        *(f"applied-{index}" for index in range(3)),
    }
