"""The benchmark steps: each runs the real CLI as a subprocess beside its baseline.

Offline steps (validate, plan) are judged against parsing the same YAML with PyYAML's C
loader, run the same way (a subprocess, so both pay the interpreter's start); API-bound
steps against N x latency / concurrency. Never asserts: the verdicts are printed.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import bare_client, bench_service, runner, workload
from bench.results import Result
from tests.support.sandbox import SandboxProcess, start_sandbox

HF_TOKEN = "bench-hf-token-not-a-secret"


@dataclass(frozen=True, slots=True)
class Settings:
    rounds: int = 3  # best of, for offline steps
    startup_rounds: int = 5  # best of, for the start-up steps (each ~0.1-0.3 s)
    api_rounds: int = 3  # best of, for API-bound steps (each round takes N x 0.1 s / 32 or more)
    latency_ms: float = 100.0
    concurrency: int = 32


def _offline_target(n: int, step: str) -> float | None:
    if step.startswith("validate"):
        return 2.0 if n >= 5000 else None
    if step.startswith("plan no-op"):
        return 2.0 if n >= 5000 else 3.0
    return None


def parse_only(folder: Path) -> runner.Run:
    return runner.run([sys.executable, "-m", "bench.parse_only", str(folder)])


def _best_pair(
    rounds: int, measure: Callable[[], runner.Run], baseline: Callable[[], runner.Run]
) -> tuple[runner.Run, runner.Run]:
    """Alternate step and baseline so slow phases of a shared machine hit both alike."""
    step_runs, base_runs = [], []
    for _ in range(rounds):
        base_runs.append(baseline())
        step_runs.append(measure())
    return runner.best(step_runs), runner.best(base_runs)


def _checked(run: runner.Run, what: str, ok_codes: Sequence[int] = (0,)) -> runner.Run:
    if run.exit_code not in ok_codes:
        raise SystemExit(f"bench: {what} exited {run.exit_code}:\n{run.stderr[-2000:]}")
    return run


def offline_steps(work: workload.Workload, settings: Settings) -> list[Result]:
    n, rounds = work.size, settings.rounds
    cases = [
        ("validate one-per-file", ["validate", str(work.one_per_file)], work.one_per_file, (0,)),
        ("validate multi-doc", ["validate", str(work.multi_doc)], work.multi_doc, (0,)),
        (
            "plan no-op one-per-file",
            ["plan", str(work.one_per_file), "--state", str(work.state), "--detailed-exitcode"],
            work.one_per_file,
            (0,),
        ),
        (
            "plan no-op multi-doc",
            ["plan", str(work.multi_doc), "--state", str(work.state), "--detailed-exitcode"],
            work.multi_doc,
            (0,),
        ),
        (
            "plan 1% changed",
            ["plan", str(work.changed), "--state", str(work.state), "--detailed-exitcode"],
            work.changed,
            (2,),  # 2: there are changes, as there must be
        ),
    ]
    results = []
    for step, args, folder, codes in cases:
        best, base = _best_pair(
            rounds,
            lambda args=args, step=step, codes=codes: _checked(runner.cli(*args), step, codes),
            lambda folder=folder: _checked(parse_only(folder), "parse-only"),
        )
        limit = 300.0 if step.startswith("plan no-op") and n >= 20000 else None
        results.append(
            Result(
                step, n, best.wall, best.cpu, base.wall, "parse", _offline_target(n, step),
                best.peak_mb, rounds, peak_limit_mb=limit,
            )
        )  # fmt: skip
    return results


def startup_steps(work: workload.Workload, settings: Settings) -> list[Result]:
    """`--help` and `validate one.yaml`: absolute target 0.3 s; baseline `python -c pass`."""
    python = [sys.executable, "-c", "pass"]
    results = []
    for step, args in (
        ("start --help", ["--help"]),
        ("start validate one file", ["validate", str(work.one_file)]),
    ):
        best, base = _best_pair(
            settings.startup_rounds,
            lambda args=args, step=step: _checked(runner.cli(*args), step),
            lambda: runner.run(python),
        )
        results.append(
            Result(
                step, 1, best.wall, best.cpu, 0.3, "absolute", 1.0, best.peak_mb,
                settings.startup_rounds, note=f"bare `python -c pass`: {base.wall:.3f} s",
            )
        )  # fmt: skip
    return results


def api_steps(work: workload.Workload, settings: Settings, scratch: Path) -> list[Result]:
    """apply of N creates, best of `api_rounds` (each into a fresh sandbox and state), beside
    the floor of the same creates from a bare client (bench/bare_client.py); then a
    detect-only reconcile pass over the world the last apply made."""
    n = work.size
    ideal = n * settings.latency_ms / 1000 / settings.concurrency
    rounds = max(1, settings.api_rounds)
    floor = min(
        bare_client.post_creates(
            n, latency_ms=settings.latency_ms, concurrency=settings.concurrency
        )
        for _ in range(rounds)
    )
    applies: list[tuple[runner.Run, str]] = []
    state = scratch / f"applied-{n}.state.json"
    for _ in range(rounds):
        for stale in scratch.glob(f"{state.name}*"):
            stale.unlink()
        with start_sandbox("--latency-ms", str(settings.latency_ms), ready_after=0.0) as sandbox:
            env = {**sandbox.env, "HF_TOKEN": HF_TOKEN, "TENSORMESH_USER_ID": sandbox.user_id}
            applies.append(_apply_into(sandbox, env, work, settings, state))
            reconcile = _reconcile_over(sandbox, env, work, settings, state)
    best, server = min(applies, key=lambda pair: pair[0].wall)
    apply_result = Result(
        "apply N creates", n, best.wall, best.cpu, ideal, "N*lat/conc", 1.3, best.peak_mb,
        rounds, note=(
            f"{server}bare-client floor {floor:.2f} s ({floor / ideal:.2f}x); "
            "--no-wait; journal on: each intent fsynced before its deploy, each ID line "
            "written at once"
        ),
    )  # fmt: skip
    return [apply_result, reconcile]


def _apply_into(
    sandbox: SandboxProcess,
    env: dict[str, str],
    work: workload.Workload,
    settings: Settings,
    state: Path,
) -> tuple[runner.Run, str]:
    """One apply of N creates, checked (every entry recorded, one create each)."""
    n = work.size
    cpu_before = runner.process_cpu_seconds(sandbox.pid)
    apply = _checked(
        runner.cli(
            "apply", str(work.one_per_file), "--state", str(state), "--no-wait",
            "--concurrency", str(settings.concurrency), "--output", "json", env=env,
        ),
        "apply",
    )  # fmt: skip
    cpu_after = runner.process_cpu_seconds(sandbox.pid)
    stats = sandbox.stats()
    recorded = len(json.loads(state.read_text())["entries"])
    if recorded != n or stats["createCalls"] != n:
        raise SystemExit(f"bench: apply recorded {recorded}, created {stats['createCalls']}")
    server = "" if cpu_before is None or cpu_after is None else (
        f"sandbox CPU {cpu_after - cpu_before:.1f} s of {apply.wall:.1f} s wall; "
    )  # fmt: skip
    return apply, server


def _reconcile_over(
    sandbox: SandboxProcess,
    env: dict[str, str],
    work: workload.Workload,
    settings: Settings,
    state: Path,
) -> Result:
    n = work.size
    ideal = n * settings.latency_ms / 1000 / settings.concurrency
    requests_before = sandbox.stats()["requests"]
    reconcile = _checked(
        runner.cli(
            "reconcile", str(work.one_per_file), "--state", str(state), "--once",
            "--detect-only", "--output", "json", "--concurrency", str(settings.concurrency),
            env=env,
        ),
        "reconcile",
    )  # fmt: skip
    calls = sandbox.stats()["requests"] - requests_before  # _sandbox routes are not counted
    drift = json.loads(reconcile.stdout.splitlines()[-1]).get("drift", [])
    return Result(
        "reconcile --once --detect-only", n, reconcile.wall, reconcile.cpu, ideal, "N*lat/conc",
        None, reconcile.peak_mb, 1, note=f"{calls} API call(s); {len(drift)} drift item(s)",
    )  # fmt: skip


def run_size(
    n: int, settings: Settings, scratch: Path, *, api: bool, postgres: bool = True
) -> list[Result]:
    root = scratch / f"n{n}"
    work = workload.build(root, n)
    try:
        results = offline_steps(work, settings)
        if api:
            results += api_steps(work, settings, scratch)
            results += bench_service.service_steps(n, settings.api_rounds, scratch)
        if postgres and api:
            from bench import bench_pg

            results += bench_pg.pg_steps(work, settings)
        return results
    finally:
        shutil.rmtree(root, ignore_errors=True)


def growth(results: Sequence[Result], step: str, limit: float) -> tuple[str, bool | None] | None:
    """Time at the largest N over time at the smallest, for `step` (target: <= limit)."""
    rows = sorted((r for r in results if r.step == step), key=lambda r: r.n)
    if len(rows) < 2 or rows[0].n > 1000 or rows[-1].n < 20000:
        return None
    factor = rows[-1].wall / rows[0].wall
    text = (
        f"{step}: {rows[0].n} -> {rows[-1].n} entries took {factor:.1f}x the time "
        f"(target <= {limit:g}x)"
    )
    return text, factor <= limit
