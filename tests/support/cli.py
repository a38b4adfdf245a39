"""Run the real CLI as a process of its own, as users and CI do.

Each run is a process of its own with its own pid, environment, working directory, stdin,
stdout, stderr and exit status. By default it is forked from a warm interpreter that has
already imported the CLI (tests/support/forked.py), which saves ~0.2 s of CPU per run; a run
whose environment changes what Python reads at start-up, and every run under
TENSORMESH_TEST_CLI=exec, starts `python -m reconciler` afresh instead. `start_cli` does the
same for a CLI process a test waits on, signals or kills; tests about the interpreter's own
start (signals at start-up, a terminal) use `subprocess` directly.
"""

from __future__ import annotations

import locale
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from tests.support.forked import (
    ForkedProcess,
    base_environment,
    read_until_closed,
    stdin_fd,
    warm_server,
)
from tests.support.sandbox import PROJECT_ROOT


def run_cli(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    timeout: float = 120.0,
) -> subprocess.CompletedProcess[str]:
    """One CLI run; the environment is ours plus `env`, NO_COLOR set so output is plain."""
    full_env = base_environment(env)
    where = Path(cwd or PROJECT_ROOT)
    server = warm_server()
    if server is None or not server.can_fork(full_env):
        return subprocess.run(
            [sys.executable, "-m", "reconciler", *args],
            capture_output=True,
            text=True,
            env=full_env,
            cwd=where,
            timeout=timeout,
            check=False,
        )
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    stdin = stdin_fd()
    try:
        process = server.spawn(args, full_env, where, (stdin, out_write, err_write))
    finally:
        for fd in {stdin, out_write, err_write} - {0}:
            os.close(fd)
    out, err, timed_out = read_until_closed(out_read, err_read, timeout)
    if timed_out:  # as subprocess.run does: kill, collect what is left, raise
        os.kill(process.pid, signal.SIGKILL)
        more_out, more_err, _ = read_until_closed(out_read, err_read, 10.0)
        process.wait()
        raise subprocess.TimeoutExpired(
            process.args, timeout, _text(out + more_out), _text(err + more_err)
        )
    return subprocess.CompletedProcess(process.args, process.wait(), _text(out), _text(err))


def start_cli(
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: str | Path | None = None,
    stdin: int | IO[Any] | None = None,
    stdout: int | IO[Any] | None = None,
    stderr: int | IO[Any] | None = None,
) -> subprocess.Popen[str] | ForkedProcess:
    """`python -m reconciler ARGS` started as `subprocess.Popen(..., text=True)` starts it:
    `env` is its whole environment; stdin, stdout and stderr take None (ours), DEVNULL, PIPE
    (stdout and stderr only: text streams on the result), a file or a descriptor. Forked
    when it can be (see run_cli), for tests that wait on, signal or kill the CLI."""
    where = Path(cwd or PROJECT_ROOT)
    server = warm_server()
    if server is None or not server.can_fork(env):
        return subprocess.Popen(
            [sys.executable, "-m", "reconciler", *args],
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            text=True,
            cwd=where,
            env=dict(env),
        )
    opened: list[int] = []  # ours to close once the child has its copies
    pipes: dict[int, int] = {}  # our read end of each PIPE, by the child's descriptor

    def descriptor(stream: int | IO[Any] | None, target: int) -> int:
        if stream is None:
            fd = stdin_fd() if target == 0 else target
            if fd != target:
                opened.append(fd)  # /dev/null, opened for a test process without a stdin
            return fd
        if stream == subprocess.DEVNULL:
            fd = os.open(os.devnull, os.O_RDWR)
            opened.append(fd)
            return fd
        if stream == subprocess.PIPE and target != 0:
            read, write = os.pipe()
            pipes[target] = read
            opened.append(write)
            return write
        if isinstance(stream, int):
            return stream
        return stream.fileno()

    fds = (descriptor(stdin, 0), descriptor(stdout, 1), descriptor(stderr, 2))
    try:
        process = server.spawn(args, env, where, fds)
    finally:
        for fd in opened:
            os.close(fd)
    encoding = locale.getpreferredencoding(False)
    if 1 in pipes:
        process.stdout = open(pipes[1], encoding=encoding)  # noqa: SIM115
    if 2 in pipes:
        process.stderr = open(pipes[2], encoding=encoding)  # noqa: SIM115
    return process


def _text(data: bytes) -> str:
    # As subprocess.run(text=True) decodes: the locale's encoding, universal newlines.
    text = data.decode(locale.getpreferredencoding(False))
    return text.replace("\r\n", "\n").replace("\r", "\n")


def assert_clean_failure(result: subprocess.CompletedProcess[str]) -> None:
    """Exit 1 with a message and no traceback."""
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.strip()


def write_manifest(folder: Path, name: str, **spec: object) -> Path:
    """One ModelDeployment file; spec fields override a small H100 deployment."""
    import yaml

    body = {
        "modelPath": "meta-llama/Llama-3.1-8B-Instruct",
        "gpuType": "GPU_TYPE_H100",
        "gpuCount": 1,
        "infra": {"cloudProvider": "CLOUD_PROVIDER_NEBIUS"},
        **spec,
    }
    document = {
        "apiVersion": "tensormesh.gitops/v1",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": body,
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path
