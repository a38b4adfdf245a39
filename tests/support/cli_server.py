"""A warm interpreter that forks one real CLI process per request (`run_cli`'s fast path).

Started once per test process as `python -m tests.support.cli_server SOCKET`, it imports the
CLI and everything its commands load, then waits. For each request it forks a supervisor,
which forks the CLI process proper, reports its pid, waits for it and reports its exit
status. The CLI process takes the request's working directory, environment, umask and file
descriptors (stdin, stdout, stderr, passed over the socket), runs `reconciler` as
`python -m reconciler` does (`runpy`, `sys.argv`, `sys.path[0]` the working directory), and
exits as the interpreter does, short of tearing its modules down (see `_exit`).

What a fork shares with its server is the interpreter's start: flags, hash seed and what is
read from the environment at start-up. `run_cli` starts a fresh interpreter instead whenever
a run's environment differs from the server's in a variable read at start-up
(`startup_view`), and for every run under TENSORMESH_TEST_CLI=exec.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import json
import os
import runpy
import socket
import struct
import sys
import threading
from collections.abc import Sequence
from typing import NoReturn

# Variables the interpreter (or the C library, once) reads at start-up: a run that sets any of
# them differently from the server gets a fresh interpreter instead of a fork.
STARTUP_PREFIXES = ("PYTHON", "LC_")
STARTUP_VARIABLES = frozenset({"LANG", "LANGUAGE", "TZ"})
HEADER = struct.Struct("!I")


def startup_view(env: dict[str, str]) -> dict[str, str]:
    """The part of an environment that a fork cannot take over from its server."""
    return {
        key: value
        for key, value in env.items()
        if key in STARTUP_VARIABLES or key.startswith(STARTUP_PREFIXES)
    }


class Channel:
    """Length-prefixed JSON messages over a Unix socket, with descriptors alongside. Keeps
    what it read past a message: a supervisor's two messages may arrive in one read."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buffer = b""

    def send(self, message: dict[str, object], fds: Sequence[int] = ()) -> None:
        body = json.dumps(message).encode()
        data = HEADER.pack(len(body)) + body
        if fds:
            socket.send_fds(self.sock, [data], list(fds))
        else:
            self.sock.sendall(data)

    def receive(self, fd_count: int = 0) -> tuple[dict[str, object], list[int]]:
        """One message and the descriptors that came with it; ({}, ...) at the end."""
        fds: list[int] = []
        while not self._holds_message():
            data, received, _flags, _address = socket.recv_fds(self.sock, 1 << 16, max(fd_count, 1))
            fds += received
            if not data:
                return {}, fds
            self._buffer += data
        (size,) = HEADER.unpack_from(self._buffer)
        body = self._buffer[HEADER.size : HEADER.size + size]
        self._buffer = self._buffer[HEADER.size + size :]
        return json.loads(body), fds

    def close(self) -> None:
        self.sock.close()

    def _holds_message(self) -> bool:
        buffer = self._buffer
        return (
            len(buffer) >= HEADER.size
            and len(buffer) >= HEADER.size + HEADER.unpack_from(buffer)[0]
        )


def _warm_up() -> None:
    """Import what CLI runs import, the way `reconciler.cli.run` starts: every command, what
    they load when they run, and the sandbox's frameworks."""
    import importlib

    from reconciler import cli

    cli._skip_httpx_command_line_tool()
    for module, _help in cli.COMMANDS.values():
        importlib.import_module(f"reconciler.commands.{module}")
    for module in (
        "reconciler.pipeline",
        "reconciler.reconcile",
        "reconciler.adapters.http_api",
        "reconciler.adapters.pg_state",
        "reconciler.costing",
        "reconciler.writeback",
        "reconciler.sandbox.main",
        "psycopg",
    ):
        importlib.import_module(module)


def _become_cli(request: dict[str, object], fds: list[int]) -> None:
    """In the CLI process: take the request's place and context, run the CLI, exit."""
    os.chdir(str(request["cwd"]))
    os.umask(int(str(request["umask"])))
    env = request["env"]
    assert isinstance(env, dict)
    os.environ.clear()
    os.environ.update({str(k): str(v) for k, v in env.items()})
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    args = request["args"]
    assert isinstance(args, list)
    sys.argv = ["-m", *map(str, args)]
    sys.path[0] = os.getcwd()
    gc.enable()
    try:
        runpy.run_module("reconciler", run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        code = _exit_code(exc.code)
    except BaseException:  # as the interpreter does with an uncaught exception
        sys.excepthook(*sys.exc_info())
        code = 1
    _exit(code)


def _exit_code(code: object) -> int:
    # SystemExit's argument as the interpreter reads it: None is 0; other objects are printed.
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _exit(code: int) -> NoReturn:
    """The interpreter's exit, up to tearing down its modules: join the threads that are not
    daemons, run the atexit handlers, flush the streams. The teardown itself is skipped: in a
    fork it would write to every page it shares with the server (~0.1 s of CPU per run)."""
    threading._shutdown()  # type: ignore[attr-defined]
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            code = code or 120  # as Python does when it cannot flush at exit
    os._exit(code)


def _supervise(channel: Channel, request: dict[str, object], fds: list[int]) -> None:
    """In the supervisor: fork the CLI process, report its pid, wait, report its status."""
    pid = os.fork()
    if pid == 0:
        channel.close()
        _become_cli(request, fds)
    for fd in fds:
        os.close(fd)
    with contextlib.suppress(OSError):  # a test process that is gone reads no report
        channel.send({"pid": pid})
    _, status = os.waitpid(pid, 0)
    with contextlib.suppress(OSError):
        channel.send({"returncode": os.waitstatus_to_exitcode(status)})
    os._exit(0)


def serve(path: str) -> None:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    _warm_up()
    # The server's objects stay out of the collector's way in every fork (fewer pages copied).
    gc.disable()
    gc.freeze()
    print("ready", flush=True)
    while True:
        conn, _ = listener.accept()
        channel = Channel(conn)
        request, fds = channel.receive(fd_count=3)
        while True:  # reap supervisors that have finished
            try:
                done, _status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if done == 0:
                break
        if not request or len(fds) != 3:
            conn.close()
            for fd in fds:
                os.close(fd)
            continue
        if os.fork() == 0:
            listener.close()
            _supervise(channel, request, fds)
        conn.close()
        for fd in fds:
            os.close(fd)


if __name__ == "__main__":
    serve(sys.argv[1])
