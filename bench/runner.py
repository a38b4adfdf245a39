"""Benchmark measurement: run one command as a real subprocess, time it, read its peak memory.

Wall time with time.perf_counter; CPU time and peak RSS from os.wait4's rusage of that one
child (RUSAGE_CHILDREN would report the maximum over every child so far, not this one's).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True, slots=True)
class Run:
    wall: float  # seconds
    cpu: float  # user + system seconds of the child
    peak_mb: float  # max RSS of the child, MiB
    exit_code: int
    stdout: str
    stderr: str


def run(
    args: Sequence[str], *, env: Mapping[str, str] | None = None, timeout: float = 1800.0
) -> Run:
    """Run `args`; output goes to temporary files (a full pipe would stall the child)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            list(args),
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            cwd=PROJECT_ROOT,
            env={**os.environ, **(env or {})},
            text=True,
        )
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.002)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)  # wait4 reaped it: tell Popen
        out.seek(0)
        err.seek(0)
        # Linux reports ru_maxrss in KiB.
        return Run(
            wall=wall,
            cpu=usage.ru_utime + usage.ru_stime,
            peak_mb=usage.ru_maxrss / 1024,
            exit_code=proc.returncode,
            stdout=out.read(),
            stderr=err.read(),
        )


def cli(*args: str, env: Mapping[str, str] | None = None) -> Run:
    """`python -m reconciler ARGS...`, as users run it."""
    return run([sys.executable, "-m", "reconciler", *args], env=env)


def best(runs: Sequence[Run]) -> Run:
    """The fastest run: other load on a shared machine only ever adds time."""
    return min(runs, key=lambda r: r.wall)


def process_cpu_seconds(pid: int) -> float | None:
    """utime + stime of a running process (Linux /proc), e.g. the sandbox's, else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
