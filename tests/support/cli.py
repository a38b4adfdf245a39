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
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from tests.support.forked import ForkedProcess, base_environment, stdin_fd, warm_server
from tests.support.sandbox import PROJECT_ROOT


def run_cli(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    timeout: float = 120.0,
) -> subprocess.CompletedProcess[str]:
    """One CLI run; the environment is ours plus `env`, NO_COLOR set so output is plain."""
    process = start_cli(
        args, env=base_environment(env), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:  # as subprocess.run does: kill, reap, raise
        process.kill()
        process.wait()
        raise
    return subprocess.CompletedProcess(process.args, process.wait(), out or "", err or "")


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
