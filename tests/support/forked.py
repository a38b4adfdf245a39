"""Processes forked from a warm interpreter (tests/support/cli_server.py), with Popen's shape.

`spawn(args, ...)` gives a `ForkedProcess`: a real process of its own running
`python -m reconciler ARGS`, forked from this test process's server instead of started
afresh, which saves the ~0.2 s (CLI) to ~0.7 s (sandbox) of CPU that importing takes. It has
what the tests use of `subprocess.Popen`: pid, poll, wait, communicate, send_signal,
terminate, kill, returncode, and stdout/stderr for pipes (tests/support/cli.py's start_cli).
`warm_server()` is None under TENSORMESH_TEST_CLI=exec and outside pytest, and
`can_fork(env)` is false for an environment that changes what Python reads at start-up:
callers then start `python -m reconciler` afresh. One trace of the fork stays visible from
outside: the kernel's copy of the start-up environment (/proc/PID/environ) and command line
are the server's; the process's own environment (os.environ, and what its children get) is
the run's.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from tests.support.cli_server import Channel, startup_view
from tests.support.sandbox import PROJECT_ROOT

MODE_ENV = "TENSORMESH_TEST_CLI"  # "exec": every run starts a fresh interpreter


def base_environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Ours plus `env`, NO_COLOR set so output is plain, the project importable."""
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    full_env.setdefault("PYTHONPATH", str(PROJECT_ROOT))
    return full_env


class ForkedProcess:
    """One forked `python -m reconciler ...`; its supervisor reports pid, then exit status."""

    def __init__(self, args: list[str], channel: Channel) -> None:
        self.args = args
        self._channel = channel
        started, _ = channel.receive()
        self.pid = int(str(started["pid"]))
        self.returncode: int | None = None
        self.stdout: IO[str] | None = None  # set by start_cli for stdout=PIPE, as Popen's
        self.stderr: IO[str] | None = None
        self._readers: dict[str, _Reader] | None = None
        self._lock = threading.Lock()

    def communicate(self, timeout: float | None = None) -> tuple[str | None, str | None]:
        """As Popen.communicate with no input: both pipes to their end, then the exit. After
        a timeout a later call goes on with the same readers, as Popen's does."""
        if self._readers is None:
            self._readers = {
                name: _Reader(stream)
                for name, stream in (("out", self.stdout), ("err", self.stderr))
                if stream is not None
            }
        deadline = None if timeout is None else time.monotonic() + timeout
        for reader in self._readers.values():
            reader.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if reader.is_alive():
                raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        self.wait(left)
        out, err = self._readers.get("out"), self._readers.get("err")
        return (out and out.text), (err and err.text)

    def poll(self) -> int | None:
        return self._finish(block=False, timeout=None)

    def wait(self, timeout: float | None = None) -> int:
        code = self._finish(block=True, timeout=timeout)
        if code is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
        return code

    def send_signal(self, sig: int) -> None:
        # As Popen.send_signal: nothing once the process has ended, also when it ends between
        # the poll and the signal (its supervisor may have reaped it already).
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def _finish(self, *, block: bool, timeout: float | None) -> int | None:
        with self._lock:
            if self.returncode is not None:
                return self.returncode
            self._channel.sock.settimeout(timeout if block else 0.0)
            try:
                finished, _ = self._channel.receive()
            except (TimeoutError, BlockingIOError):
                return None
            finally:
                self._channel.sock.settimeout(None)
            self._channel.close()
            if not finished:  # the supervisor is gone: the server was stopped
                self.returncode = -signal.SIGKILL
            else:
                self.returncode = int(str(finished["returncode"]))
            return self.returncode


class WarmServer:
    """One `cli_server` process for this test process."""

    def __init__(self, env: dict[str, str]) -> None:
        self._folder = tempfile.mkdtemp(prefix="tm-cli-")
        self._path = os.path.join(self._folder, "s")
        self._startup = startup_view(env)
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.cli_server", self._path],
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
        )
        assert self._process.stdout is not None
        if self._process.stdout.readline().strip() != b"ready":
            raise RuntimeError("the warm CLI server did not start (its stderr says why)")

    @property
    def pid(self) -> int:
        return self._process.pid

    def can_fork(self, env: Mapping[str, str]) -> bool:
        return self._process.poll() is None and startup_view(dict(env)) == self._startup

    def spawn(
        self,
        args: Sequence[str],
        env: Mapping[str, str],
        cwd: str | Path,
        fds: tuple[int, int, int],
    ) -> ForkedProcess:
        """Fork `python -m reconciler ARGS` with `fds` as its stdin, stdout and stderr."""
        request = {"args": list(args), "env": dict(env), "cwd": str(cwd), "umask": _umask()}
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(self._path)
        channel = Channel(conn)
        channel.send(request, fds)
        return ForkedProcess([sys.executable, "-m", "reconciler", *args], channel)

    def close(self) -> None:
        self._process.kill()
        self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()
        for name in os.listdir(self._folder):
            os.unlink(os.path.join(self._folder, name))
        os.rmdir(self._folder)


_servers: dict[int, WarmServer] = {}  # by the pid of the test process that started it
_servers_lock = threading.Lock()


def warm_server() -> WarmServer | None:
    """This test process's server, started on first use. None under TENSORMESH_TEST_CLI=exec,
    and outside pytest: the bench measures processes started afresh, sandboxes included."""
    if os.environ.get(MODE_ENV) == "exec" or "_pytest" not in sys.modules:
        return None
    with _servers_lock:
        server = _servers.get(os.getpid())
        if server is None:
            server = _servers[os.getpid()] = WarmServer(base_environment())
            atexit.register(server.close)
        return server


def stdin_fd() -> int:
    """What a child started without `stdin=` gets: ours (fd 0), or /dev/null if we have none."""
    try:
        os.fstat(0)
    except OSError:
        return os.open(os.devnull, os.O_RDONLY)
    return 0


class _Reader(threading.Thread):
    """Reads one pipe to its end, then closes it."""

    def __init__(self, stream: IO[str]) -> None:
        super().__init__(daemon=True)
        self.text = ""
        self._stream = stream
        self.start()

    def run(self) -> None:
        with self._stream:
            self.text = self._stream.read()


def _umask() -> int:
    # Read, not set and reset: os.umask would change it for every thread for a moment.
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("Umask:"):
            return int(line.split()[1], 8)
    raise RuntimeError("no Umask line in /proc/self/status")
