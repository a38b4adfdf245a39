"""SIGTERM/SIGINT end `apply` and `reconcile` within seconds while API calls hang.

The real CLI runs against a hostile loopback API whose deploy (or listing) never
answers. After the signal the process must exit 1 within 5 s, release the state lock,
and leave the in-flight create's intent open so that the next run looks it up by name.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reconciler.adapters import state_store
from reconciler.adapters.state_lock import StateLock
from tests.support.cli import write_manifest
from tests.support.hostile_api import HostileApi, Request, answer_json, wait_until
from tests.support.sandbox import PROJECT_ROOT

pytestmark = pytest.mark.e2e

USER = "3f0c6d2e-0000-4000-8000-000000000001"
TOKEN = "tok-signals-9f8e7d"
EXIT_BOUND = 5.0  # the bound between the signal and the process's end


def hang_deploys(req: Request, sock: socket.socket) -> None:
    if req.method == "GET" and req.path == "/v1/models":
        answer_json(sock, 200, {"models": []})
    elif req.method == "GET" and req.path == "/auth/profile":
        answer_json(sock, 200, {"user": {"id": USER}})
    elif req.method == "GET" and req.path.startswith("/v1/billing/"):
        answer_json(sock, 200, {})  # no prices, no balance: the cost is unknown
    # a deploy (or anything else) is read and never answered


def hang_everything(req: Request, sock: socket.socket) -> None:
    del req, sock


def start(args: list[str], url: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "reconciler", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=PROJECT_ROOT,
        env={
            **os.environ,
            "NO_COLOR": "1",
            "PYTHONPATH": str(PROJECT_ROOT),
            "TENSORMESH_CONTROL_PLANE_BASE_URL": url,
            "TENSORMESH_CONTROL_PLANE_TOKEN": TOKEN,
            "TENSORMESH_USER_ID": USER,
            "TENSORMESH_TIMEOUT_SECONDS": "600",  # the deadline must not be what ends it
            **env,
        },
    )


def stop_and_wait(proc: subprocess.Popen[str], signum: signal.Signals) -> tuple[str, str]:
    proc.send_signal(signum)
    try:
        out, err = proc.communicate(timeout=EXIT_BOUND)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"still running {EXIT_BOUND:g} s after {signum.name}")
    return out, err


def assert_lock_released(state: Path) -> None:
    assert not Path(f"{state}.lock.info").exists()
    with StateLock(state, command="test", timeout=0):
        pass


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_apply_with_hanging_deploys_ends_keeping_their_intents(
    tmp_path: Path, signum: signal.Signals
) -> None:
    folder, state = tmp_path / "m", tmp_path / "state.json"
    names = [f"hang-{i}" for i in range(4)]
    for name in names:
        write_manifest(folder, name)
    with HostileApi(hang_deploys) as api:
        proc = start(
            ["apply", str(folder), "--state", str(state), "--no-wait", "--concurrency", "2"],
            api.url,
        )
        try:
            wait_until(lambda: sum(r.method == "POST" for r in api.requests) == 2, timeout=60)
            out, err = stop_and_wait(proc, signum)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 1, (out, err)
    assert "Traceback" not in out + err
    assert signum.name in err
    assert "interrupted" in out.lower()
    assert_lock_released(state)
    recorded = state_store.read_state(state)
    in_flight = {json.loads(r.body)["modelName"] for r in api.requests if r.method == "POST"}
    assert len(in_flight) == 2
    assert in_flight <= set(recorded.intents)  # looked up by name on the next run
    assert recorded.entries == {}


def test_reconcile_with_a_hanging_api_ends_and_releases_the_lock(tmp_path: Path) -> None:
    folder, state = tmp_path / "m", tmp_path / "state.json"
    write_manifest(folder, "alpha")
    with HostileApi(hang_everything) as api:
        proc = start(["reconcile", str(folder), "--state", str(state)], api.url)
        try:
            wait_until(lambda: len(api.requests) >= 1, timeout=60)
            time.sleep(0.2)  # the call is in flight, the lock held
            out, err = stop_and_wait(proc, signal.SIGTERM)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 1, (out, err)
    assert "Traceback" not in out + err
    assert_lock_released(state)
