"""`python -m bench.apply_pair [N] [ROUNDS]`: the apply of N creates on the state file and
on PostgreSQL, alternating in one run (each round: one of each, fresh sandbox and state),
without the rest of the suite. On a shared machine only a pair measured together compares.

Prints one line per apply (wall, CPU, ratio to N x latency / concurrency, load average).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from bench import bench_pg, runner, suite, workload
from tests.support.postgres import find_bin_dir, start_postgres
from tests.support.sandbox import start_sandbox


def _load() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    n = int(args[0]) if args else 5000
    rounds = int(args[1]) if len(args) > 1 else 3
    if find_bin_dir() is None:
        print("bench: no PostgreSQL server installed", file=sys.stderr)
        return 1
    settings = suite.Settings(rounds=1, api_rounds=1)
    ideal = n * settings.latency_ms / 1000 / settings.concurrency
    with tempfile.TemporaryDirectory(prefix="tensormesh-pair-") as tmp, start_postgres() as pg:
        work = workload.build(Path(tmp) / "work", n)
        for i in range(rounds):
            state = Path(tmp) / f"applied-{i}.state.json"
            with start_sandbox(
                "--latency-ms", str(settings.latency_ms), ready_after=0.0
            ) as sandbox:
                env = {**sandbox.env, "HF_TOKEN": suite.HF_TOKEN}
                env["TENSORMESH_USER_ID"] = sandbox.user_id
                before = _load()
                run, _ = suite._apply_into(sandbox, env, work, settings, state)
            _print("file", n, run, ideal, before)
            before = _load()
            row = bench_pg._apply(work, settings, pg)
            _print(
                "postgresql",
                n,
                runner.Run(row.wall, row.cpu, row.peak_mb, 0, "", ""),
                ideal,
                before,
            )
    return 0


def _print(backend: str, n: int, run: runner.Run, ideal: float, load_before: str) -> None:
    print(
        f"apply {n} creates, {backend:10} {run.wall:6.2f} s  CPU {run.cpu:5.2f} s  "
        f"{run.wall / ideal:.2f}x of {ideal:.2f} s  load {load_before} -> {_load()}",
        flush=True,
    )


if __name__ == "__main__":
    raise SystemExit(main())
