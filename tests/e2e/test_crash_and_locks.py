"""Crash, lock and signal behaviour of the real CLI against the real sandbox.

kill -9 while holding the lock; two applies on one state; SIGINT/SIGTERM mid-apply;
an outage that trips the circuit breaker mid-run. Each ends consistent after a rerun.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.adapters import state_file
from tests.support.cli import run_cli, write_manifest
from tests.support.sandbox import PROJECT_ROOT, SandboxProcess, start_sandbox

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def slow_sandbox() -> Iterator[SandboxProcess]:
    with start_sandbox(ready_after=0.1) as process:
        yield process


@pytest.fixture(autouse=True)
def _faults_off(slow_sandbox: SandboxProcess) -> Iterator[None]:
    slow_sandbox.set_faults(latencyMs=300, errorRate=0, loseCreateRate=0, rateLimitEvery=0)
    yield
    slow_sandbox.set_faults(latencyMs=0, errorRate=0)


def wait_for_creates(sandbox: SandboxProcess, count: int) -> None:
    """A third create arrives only once a worker's first one was answered (concurrency 2):
    then some entries are done and some not, whatever the reads before them cost."""
    deadline = time.monotonic() + 60
    while sandbox.stats()["createCalls"] < count and time.monotonic() < deadline:
        time.sleep(0.05)


def start_apply(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "reconciler", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=PROJECT_ROOT,
        env={**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(PROJECT_ROOT), **env},
    )


def wait_for(path: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def manifests_for(folder: Path, prefix: str, count: int) -> list[str]:
    names = [f"{prefix}-{i}" for i in range(count)]
    for name in names:
        write_manifest(folder, name)
    return names


def assert_consistent(sandbox: SandboxProcess, state: Path, names: list[str]) -> None:
    """One live model per name, created exactly once, and state IDs == live IDs."""
    live = [
        m
        for m in sandbox.list_models()
        if m["status"] != "MODEL_STATUS_DELETED" and m["modelName"] in names
    ]
    assert sorted(m["modelName"] for m in live) == sorted(names)
    creates = sandbox.stats()["creates"]
    assert {name: creates.get(name) for name in names} == {name: 1 for name in names}
    recorded = state_file.read_state(state)
    assert {n: e.model_id for n, e in recorded.entries.items()} == {
        m["modelName"]: m["modelId"] for m in live
    }
    assert not recorded.intents


def test_kill_9_holding_the_lock_does_not_block_the_next_apply(slow_sandbox, tmp_path):
    folder, state = tmp_path / "m", tmp_path / "state.json"
    names = manifests_for(folder, "k9", 6)
    args = ["apply", str(folder), "--state", str(state), "--no-wait", "--concurrency", "1"]
    victim = start_apply(args, slow_sandbox.env)
    info = Path(f"{state}.lock.info")
    wait_for(info)
    holder = json.loads(info.read_text())
    assert holder["pid"] == victim.pid and holder["command"] == "apply"
    assert {"host", "startedAt"} <= holder.keys()
    time.sleep(0.8)  # some deploys done, one in flight
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)
    assert info.exists()  # the dead holder's record stays behind

    rerun = run_cli([*args, "--lock-timeout", "5"], env=slow_sandbox.env)
    assert rerun.returncode == 0, rerun.stderr
    assert f"pid {victim.pid}" in rerun.stderr and "taking over the lock" in rerun.stderr
    assert not info.exists()
    assert_consistent(slow_sandbox, state, names)


def test_two_applies_at_once_one_waits_or_names_the_holder(slow_sandbox, tmp_path):
    folder, state = tmp_path / "m", tmp_path / "state.json"
    names = manifests_for(folder, "two", 4)
    args = ["apply", str(folder), "--state", str(state), "--no-wait", "--concurrency", "1"]
    first = start_apply(args, slow_sandbox.env)
    wait_for(Path(f"{state}.lock.info"))
    waiter = start_apply([*args, "--lock-timeout", "60"], slow_sandbox.env)
    refused = run_cli([*args, "--lock-timeout", "0.2"], env=slow_sandbox.env)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert f"pid {first.pid}" in refused.stderr and "`apply`" in refused.stderr
    assert first.wait(60) == 0
    out, err = waiter.communicate(timeout=60)
    assert waiter.returncode == 0, err
    # The waiter planned after the first finished: nothing left to do.
    assert "4 unchanged" in out, out
    assert_consistent(slow_sandbox, state, names)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_new_calls_records_in_flight_and_a_rerun_finishes(
    slow_sandbox, tmp_path, signum
):
    folder, state = tmp_path / "m", tmp_path / "state.json"
    names = manifests_for(folder, f"sig{signum.value}", 8)
    args = ["apply", str(folder), "--state", str(state), "--no-wait", "--concurrency", "2"]
    before = slow_sandbox.stats()["createCalls"]
    proc = start_apply(args, slow_sandbox.env)
    wait_for(Path(f"{state}.lock.info"))
    wait_for_creates(slow_sandbox, before + 3)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "Traceback" not in out + err
    assert "interrupted" in out.lower() and signum.name in err
    assert not Path(f"{state}.lock.info").exists()  # released
    recorded = state_file.read_state(state)
    done = set(recorded.entries)
    assert 0 < len(done) < len(names)
    live = {m["modelName"] for m in slow_sandbox.list_models() if m["modelName"] in names}
    assert live == done  # in-flight calls finished and were recorded, no new ones started
    rerun = run_cli(args, env=slow_sandbox.env)
    assert rerun.returncode == 0, rerun.stderr
    assert_consistent(slow_sandbox, state, names)


def test_outage_mid_run_trips_the_breaker_and_ends_cleanly(slow_sandbox, tmp_path):
    folder, state = tmp_path / "m", tmp_path / "state.json"
    names = manifests_for(folder, "outage", 12)
    args = ["apply", str(folder), "--state", str(state), "--no-wait", "--concurrency", "2"]
    env = {**slow_sandbox.env, "TENSORMESH_RETRY_BUDGET": "2"}
    before = slow_sandbox.stats()["createCalls"]
    proc = start_apply([*args, "--output", "json"], env)
    wait_for(Path(f"{state}.lock.info"))
    wait_for_creates(slow_sandbox, before + 3)  # some entries done, most not started
    slow_sandbox.set_faults(errorRate=1)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and "Traceback" not in out + err
    report = json.loads(out)  # a partial report, still one JSON document
    assert report["failed"] is True
    results = {c["name"]: c.get("result") for c in report["changes"]}
    assert "created" in results.values() and "not-started" in results.values(), results
    recorded = state_file.read_state(state)
    created = {name for name, result in results.items() if result == "created"}
    assert set(recorded.entries) == created  # what was done is recorded
    slow_sandbox.set_faults(errorRate=0)
    rerun = run_cli(args, env=slow_sandbox.env)
    assert rerun.returncode == 0, rerun.stderr
    assert_consistent(slow_sandbox, state, names)
