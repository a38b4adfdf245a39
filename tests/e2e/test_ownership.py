"""Ownership end to end (issue 12, reproductions 1 and 2): the real CLI against the real
sandbox. A model made by hand under a manifest's name is never adopted, replaced or deleted,
whatever runs next; a first apply killed at any moment leaves lineage and salt on disk, so
the next run replaces nothing needlessly."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.adapters import journal, state_file
from tests.support.cli import run_cli, start_cli, write_manifest
from tests.support.forked import ForkedProcess
from tests.support.sandbox import PROJECT_ROOT, SandboxProcess

pytestmark = pytest.mark.e2e

SECRETS = {"hfToken": {"fromEnv": "HF_TOKEN"}, "apiKey": {"fromEnv": "LLAMA_API_KEY"}}
SECRET_ENV = {"HF_TOKEN": "hf_own_test_value", "LLAMA_API_KEY": "sk-own-test-value"}


def live(sandbox: SandboxProcess) -> dict[str, dict[str, Any]]:
    return {
        m["modelName"]: m for m in sandbox.list_models() if m["status"] != "MODEL_STATUS_DELETED"
    }


def by_hand(sandbox: SandboxProcess, name: str) -> dict[str, Any]:
    """A colleague's model: 4 x H200, created straight through the API."""
    return sandbox.create_model(
        {
            "modelName": name,
            "userId": sandbox.user_id,
            "modelPath": "meta-llama/Llama-3.1-70B-Instruct",
            "gpuType": "GPU_TYPE_H200",
            "gpuCount": 4,
            "infra": {"cloudProvider": "CLOUD_PROVIDER_NEBIUS"},
        }
    )


def cli_json(args: list[str], env: dict[str, str]) -> tuple[int, dict[str, Any]]:
    result = run_cli([*args, "--output", "json"], env=env)
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    assert "internal error" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout)


def change_named(document: dict[str, Any], name: str) -> dict[str, Any]:
    return next(change for change in document["changes"] if change["name"] == name)


def assert_untouched(sandbox: SandboxProcess, model: dict[str, Any]) -> None:
    now = live(sandbox)[model["modelName"]]
    assert now["modelId"] == model["modelId"]
    assert now["gpuType"] == "GPU_TYPE_H200" and int(now["gpuCount"]) == 4


def test_a_hand_made_model_is_never_adopted_replaced_or_deleted(
    sandbox: SandboxProcess, tmp_path: Path
) -> None:
    foreign = by_hand(sandbox, "team-c")
    manifests, state = tmp_path / "m", tmp_path / "state.json"
    write_manifest(manifests, "team-c")  # 1 x H100
    args = [str(manifests), "--state", str(state)]
    env = {**sandbox.env, **SECRET_ENV}

    # The 409 is a definite answer: the entry fails naming the model and the ways out.
    for _ in range(2):  # and every later apply says the same, changing nothing
        code, document = cli_json(["apply", *args, "--no-wait"], env)
        assert code == 1
        change = change_named(document, "team-c")
        assert change["result"] == "failed"
        assert foreign["modelId"] in change["error"]
        assert f"state import team-c {foreign['modelId']}" in change["error"]
        assert "another name" in change["error"]
        recorded = state_file.read_state(state)
        assert not recorded.entries and not recorded.intents
        assert_untouched(sandbox, foreign)

    # A scheduled reconcile neither adopts nor deletes it.
    result = run_cli(["reconcile", *args, "--once", "--output", "json"], env=env)
    assert "Traceback" not in result.stderr
    assert_untouched(sandbox, foreign)
    assert not state_file.read_state(state).entries

    # Renamed manifest with --prune: the plan and the apply agree, nothing is deleted.
    (manifests / "team-c.yaml").unlink()
    write_manifest(manifests, "team-d")
    code, planned = cli_json(["plan", *args, "--prune"], env)
    assert planned["summary"]["delete"] == 0
    code, applied = cli_json(["apply", *args, "--prune", "--no-wait"], env)
    assert code == 0, applied
    assert {c["name"]: c["result"] for c in applied["changes"]} == {"team-d": "created"}
    assert_untouched(sandbox, foreign)
    assert set(state_file.read_state(state).entries) == {"team-d"}


def test_an_intent_left_open_on_a_hand_made_model_does_not_delete_it(
    sandbox: SandboxProcess, tmp_path: Path
) -> None:
    """Reproduction 1 as older versions left the state: the 409's intent stayed open, and
    the next apply or `apply --prune` after a rename deleted the hand-made model."""
    manifests, state = tmp_path / "m", tmp_path / "state.json"
    for name, renamed in (("team-e", False), ("team-f", True)):
        foreign = by_hand(sandbox, name)
        document = json.loads(_empty_state_bytes())
        document["intents"] = {
            name: {"name": name, "modelName": name, "attempt": 1, "action": "create"}
        }
        state.write_text(json.dumps(document))
        for stale in manifests.glob("*.yaml") if manifests.exists() else ():
            stale.unlink()
        write_manifest(manifests, f"{name}-renamed" if renamed else name)
        extra = ["--prune"] if renamed else []
        code, planned = cli_json(["plan", str(manifests), "--state", str(state), *extra], {})
        assert planned["summary"]["delete"] == 0 and planned["summary"]["replace"] == 0
        code, applied = cli_json(
            ["apply", str(manifests), "--state", str(state), "--no-wait", *extra], sandbox.env
        )
        assert_untouched(sandbox, foreign)
        recorded = state_file.read_state(state)
        assert name not in recorded.entries and not recorded.intents
        if not renamed:
            assert code == 1 and foreign["modelId"] in change_named(applied, name)["error"]


def test_state_import_with_the_manifest_plans_noop_with_secrets_assumed(
    sandbox: SandboxProcess, tmp_path: Path
) -> None:
    model = by_hand(sandbox, "team-g")
    manifests, state = tmp_path / "m", tmp_path / "state.json"
    write_manifest(
        manifests,
        "team-g",
        modelPath="meta-llama/Llama-3.1-70B-Instruct",
        gpuType="GPU_TYPE_H200",
        gpuCount=4,
        kvCacheEnabled=True,  # never returned by the API: taken from the manifest
        **SECRETS,
    )
    env = {**sandbox.env, **SECRET_ENV}
    imported = run_cli(
        ["state", "import", "team-g", model["modelId"], str(manifests), "--state", str(state)],
        env=env,
    )
    assert imported.returncode == 0, imported.stderr
    assert "assumed" in imported.stdout
    assert SECRET_ENV["HF_TOKEN"] not in state.read_text()
    code, planned = cli_json(
        ["plan", str(manifests), "--state", str(state), "--detailed-exitcode"], env
    )
    assert code == 0 and planned["summary"]["replace"] == 0
    assert change_named(planned, "team-g")["secretsAssumed"] == ["apiKey", "hfToken"]
    text = run_cli(["plan", str(manifests), "--state", str(state)], env=env).stdout
    assert "assumed, not verified" in text


def _empty_state_bytes() -> str:
    return json.dumps(
        {
            "formatVersion": 1,
            "lineage": "6f1c2b7e-3d4a-4c5b-8e9f-0a1b2c3d4e5f",
            "serial": 1,
            "salt": "5a" * 32,
            "entries": {},
            "intents": {},
            "generator": "tensormesh-reconciler 0.1.0",
        }
    )


# -- reproduction 2: a first apply killed, or out of disk, at any point ----------------


def _start_apply(args: list[str], env: dict[str, str]) -> subprocess.Popen[str] | ForkedProcess:
    return start_cli(
        args,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=PROJECT_ROOT,
        env={**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(PROJECT_ROOT), **env},
    )


def _first_apply_world(folder: Path, prefix: str, count: int) -> tuple[Path, list[str]]:
    manifests = folder / "m"
    names = [f"{prefix}-{i}" for i in range(count)]
    for name in names:
        write_manifest(manifests, name, **SECRETS)
    return manifests, names


def _assert_no_needless_replace(
    sandbox: SandboxProcess, manifests: Path, state: Path, names: list[str]
) -> None:
    env = {**sandbox.env, **SECRET_ENV}
    code, planned = cli_json(["plan", str(manifests), "--state", str(state)], env)
    assert planned["summary"]["replace"] == 0, [
        (c["name"], c.get("fields")) for c in planned["changes"] if c["action"] == "replace"
    ]
    code, applied = cli_json(["apply", str(manifests), "--state", str(state), "--no-wait"], env)
    assert code == 0, applied
    results = {c["name"]: c["result"] for c in applied["changes"]}
    assert "replaced" not in results.values(), results
    creates = sandbox.stats()["creates"]
    assert {name: creates.get(name) for name in names} == {name: 1 for name in names}
    recorded = state_file.read_state(state)
    ids = {m: live(sandbox)[m]["modelId"] for m in names}
    assert {n: e.model_id for n, e in recorded.entries.items()} == ids
    assert not recorded.intents and not journal.journal_path(state).exists()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_first_apply_killed_at_any_moment_replaces_nothing_next_time(
    sandbox: SandboxProcess, tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    manifests, names = _first_apply_world(tmp_path, f"k{seed}", 12)
    state = tmp_path / "state.json"
    sandbox.set_faults(latencyMs=40, loseCreateRate=0.3)
    try:
        proc = _start_apply(
            ["apply", str(manifests), "--state", str(state), "--concurrency", "3", "--no-wait"],
            {**sandbox.env, **SECRET_ENV},
        )
        # Once the first intents are on disk, deploys are in flight: kill somewhere among them.
        deadline = time.monotonic() + 30
        while not journal.journal_path(state).exists() and proc.poll() is None:
            assert time.monotonic() < deadline, "the apply never started deploying"
            time.sleep(0.01)
        time.sleep(rng.uniform(0.1, 0.4))
        proc.send_signal(signal.SIGKILL)
        _, stderr = proc.communicate(timeout=60)
        assert "Traceback" not in stderr
    finally:
        sandbox.set_faults(latencyMs=0, loseCreateRate=0)
    _assert_no_needless_replace(sandbox, manifests, state, names)


@contextlib.contextmanager
def _tmpfs(folder: Path, size: str) -> Iterator[Path]:
    """A real small file system, so that ENOSPC comes from the kernel."""
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True, check=False)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_a_first_apply_out_of_disk_replaces_nothing_next_time(
    sandbox: SandboxProcess, tmp_path: Path
) -> None:
    manifests, names = _first_apply_world(tmp_path, "nospc", 24)
    with _tmpfs(tmp_path / "disk", "12k") as disk:
        state = disk / "state.json"
        result = run_cli(
            ["apply", str(manifests), "--state", str(state), "--concurrency", "4", "--no-wait"],
            env={**sandbox.env, **SECRET_ENV},
        )
        assert result.returncode == 1  # the disk filled up mid-run
        assert "Traceback" not in result.stderr and "internal error" not in result.stderr
        assert state.exists()  # lineage and salt went to disk before the first call
        subprocess.run(["mount", "-o", "remount,size=4m", str(disk)], check=True)
        _assert_no_needless_replace(sandbox, manifests, state, names)
