"""The state lock across real processes: waiting, naming the holder, dead holders, force unlock."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.adapters import state_lock
from reconciler.adapters.state_lock import StateLock
from reconciler.core.errors import StateLockedError

REPO = Path(__file__).resolve().parents[2]
HOLDER = """
import sys, time
from reconciler.adapters.state_lock import StateLock
lock = StateLock(sys.argv[1], command="apply", timeout=5)
lock.acquire()
print("ready", flush=True)
time.sleep(120)
"""


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process that holds the lock on tmp_path/s.json until killed."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path / "s.json")],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    yield proc
    proc.kill()
    proc.wait()


def test_a_second_process_times_out_naming_the_holder(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    with (
        pytest.raises(StateLockedError) as info,
        StateLock(tmp_path / "s.json", command="plan", timeout=0.3),
    ):
        pass
    message = str(info.value)
    assert f"pid {holder.pid} on host" in message
    assert "locked by `apply`" in message
    assert "run `state unlock" in message


def test_a_killed_holder_is_taken_over_with_a_warning(
    tmp_path: Path, holder: subprocess.Popen[str], caplog: pytest.LogCaptureFixture
) -> None:
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with (
        caplog.at_level(logging.WARNING, logger="reconciler.state"),
        StateLock(tmp_path / "s.json", command="apply", timeout=5),
    ):
        record = json.loads((tmp_path / "s.json.lock.info").read_text())
        assert (record["pid"], record["command"]) == (os.getpid(), "apply")
    assert f"pid {holder.pid}" in caplog.text and "taking over" in caplog.text
    assert not (tmp_path / "s.json.lock.info").exists()


def test_force_unlock_breaks_a_live_lock(tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    description = state_lock.force_unlock(tmp_path / "s.json")
    assert description is not None and f"pid {holder.pid}" in description
    assert not (tmp_path / "s.json.lock").exists()
    assert not (tmp_path / "s.json.lock.info").exists()
    with StateLock(tmp_path / "s.json", command="apply", timeout=0.5):
        pass
    # Released: the .lock file stays, but nobody holds it: unlocked, and said so.
    assert state_lock.force_unlock(tmp_path / "s.json") is None
    assert state_lock.force_unlock(tmp_path / "s.json") is None


def test_release_lets_the_next_holder_in_immediately(tmp_path: Path) -> None:
    with StateLock(tmp_path / "s.json", command="apply"):
        assert (tmp_path / "s.json.lock.info").exists()
        with pytest.raises(StateLockedError, match="locked by `apply`"):
            StateLock(tmp_path / "s.json", command="plan", timeout=0).acquire()
    assert not (tmp_path / "s.json.lock.info").exists()
    with StateLock(tmp_path / "s.json", command="plan", timeout=0):
        pass


def test_a_dead_holder_on_this_host_is_broken_even_if_its_flock_lingers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A descriptor inherited by an orphan keeps the flock after its owner died.
    orphan_fd = os.open(tmp_path / "s.json.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(orphan_fd, fcntl.LOCK_EX)
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(gone.stdout)
    (tmp_path / "s.json.lock.info").write_text(
        json.dumps(
            {"command": "apply", "host": socket.gethostname(), "pid": dead_pid, "startedAt": "x"}
        )
    )
    try:
        with (
            caplog.at_level(logging.WARNING, logger="reconciler.state"),
            StateLock(tmp_path / "s.json", command="apply", timeout=10),
        ):
            pass
        assert f"pid {dead_pid}" in caplog.text and "no longer exists" in caplog.text
    finally:
        os.close(orphan_fd)
