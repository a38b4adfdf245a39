"""The PostgreSQL state's rows, beside the file backend's in the same run: a no-op plan
(target within 1.5x of the same plan on the state file) and an apply of N creates at
`latency_ms` and `concurrency` (target within 1.3x of N x latency / concurrency).

Starts its own server (tests/support/postgres.py); prints nothing when none is installed.
"""

from __future__ import annotations

import json
import sys

from bench import runner, suite, workload
from bench.results import Result
from tests.support.postgres import find_bin_dir, start_postgres
from tests.support.sandbox import start_sandbox


def pg_steps(work: workload.Workload, settings: suite.Settings) -> list[Result]:
    if find_bin_dir() is None:
        print("bench: no PostgreSQL server installed; skipping its rows", file=sys.stderr)
        return []
    with start_postgres() as server:
        return [
            _plan_noop(work, settings, server.create_database()),
            _apply(work, settings, server),
        ]


def _plan_noop(work: workload.Workload, settings: suite.Settings, url: str) -> Result:
    suite._checked(
        runner.cli("state", "migrate", "--state", str(work.state), "--to", url), "state migrate"
    )
    folder = str(work.one_per_file)
    best, base = suite._best_pair(
        settings.rounds,
        lambda: suite._checked(
            runner.cli("plan", folder, "--state", url, "--detailed-exitcode"), "plan (postgres)"
        ),
        lambda: suite._checked(
            runner.cli("plan", folder, "--state", str(work.state), "--detailed-exitcode"),
            "plan (file)",
        ),
    )
    return Result(
        "plan no-op, PostgreSQL state", work.size, best.wall, best.cpu, base.wall, "file state",
        1.5, best.peak_mb, settings.rounds,
        note="baseline: the same plan against the state file, same run",
    )  # fmt: skip


def _apply(work: workload.Workload, settings: suite.Settings, server: object) -> Result:
    n = work.size
    ideal = n * settings.latency_ms / 1000 / settings.concurrency
    runs = []
    for _ in range(max(1, settings.api_rounds)):
        url = server.create_database()  # type: ignore[attr-defined]
        with start_sandbox("--latency-ms", str(settings.latency_ms), ready_after=0.0) as sandbox:
            env = {**sandbox.env, "HF_TOKEN": suite.HF_TOKEN, "TENSORMESH_USER_ID": sandbox.user_id}
            run = suite._checked(
                runner.cli(
                    "apply", str(work.one_per_file), "--state", url, "--no-wait",
                    "--concurrency", str(settings.concurrency), "--output", "json", env=env,
                ),
                "apply (postgres)",
            )  # fmt: skip
            listed = runner.cli("state", "list", "--state", url, "--output", "json")
            recorded = len(json.loads(listed.stdout))
            if recorded != n or sandbox.stats()["createCalls"] != n:
                raise SystemExit(f"bench: apply (postgres) recorded {recorded} of {n}")
            runs.append(run)
    best = runner.best(runs)
    return Result(
        "apply N creates, PostgreSQL state", n, best.wall, best.cpu, ideal, "N*lat/conc", 1.3,
        best.peak_mb, len(runs),
        note="--no-wait; each intent committed (on disk) before its deploy, each ID committed "
        "(not waited onto disk) before its entry moves on",
    )  # fmt: skip
