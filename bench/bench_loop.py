"""Loop benchmark: the RSS of one `reconcile --interval` process after 10 and 1,000 passes.

Runs the real CLI against a sandbox subprocess holding N models (all in the state, so each
pass is a no-op refresh), counts passes from its --metrics-file and reads VmRSS from
/proc (Linux). A loop that keeps nothing from one pass to the next shows the same RSS at
both points. Never asserts: the figures are printed as one bench row.
Run: .venv/bin/python -m bench.bench_loop [--models 500] [--passes 1000] [--interval 0.1]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import runner, suite, workload
from bench.results import Result, table
from reconciler.core import metrics
from tests.support.sandbox import start_sandbox

EARLY = 10


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise SystemExit("bench: no VmRSS in /proc (Linux only)")


def _passes(path: Path) -> int:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return 0  # not written yet, or being replaced
    return sum(metrics.parse_counters(text).passes.values())


def run(models: int, passes: int, interval: float, scratch: Path) -> Result:
    manifests, state = scratch / "manifests", scratch / "state.json"
    manifests.mkdir()
    for i in range(models):
        (manifests / f"model-{i:05d}.yaml").write_text(workload.manifest_text(i))
    with start_sandbox(ready_after=0.0) as sandbox:
        env = {**os.environ, **sandbox.env, "TENSORMESH_USER_ID": sandbox.user_id}
        env["HF_TOKEN"] = suite.HF_TOKEN
        apply = runner.cli("apply", str(manifests), "--state", str(state), "--no-wait", env=env)
        if apply.exit_code != 0:
            raise SystemExit(f"bench: apply exited {apply.exit_code}:\n{apply.stderr[-2000:]}")
        metrics_path = scratch / "metrics.prom"
        args = [sys.executable, "-m", "reconciler", "reconcile", str(manifests)]
        args += ["--state", str(state), "--interval", str(interval)]
        args += ["--metrics-file", str(metrics_path), "--output", "json"]
        started = time.perf_counter()
        loop = subprocess.Popen(
            args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=scratch
        )
        early = late = 0.0
        try:
            while (count := _passes(metrics_path)) < passes:
                if loop.poll() is not None:
                    raise SystemExit(f"bench: reconcile exited {loop.returncode} early")
                if count >= EARLY and not early:
                    early = _rss_mb(loop.pid)
                time.sleep(0.02)
            late = _rss_mb(loop.pid)
        finally:
            loop.send_signal(signal.SIGTERM)
            loop.wait(30)
        wall = time.perf_counter() - started
    per_pass = (late - early) / (passes - EARLY) * 1024
    return Result(
        f"reconcile --interval RSS after {passes} passes", models, wall, 0.0, None, "", None,
        late, 1, note=(
            f"RSS after {EARLY} passes {early:.1f} MB, after {passes} {late:.1f} MB "
            f"({per_pass:+.1f} kB a pass); --interval {interval:g}, every pass a no-op"
        ),
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_loop", description=__doc__)
    parser.add_argument("--models", type=int, default=500)
    parser.add_argument("--passes", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=0.1)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tensormesh-bench-loop-") as tmp:
        row = run(args.models, args.passes, args.interval, Path(tmp))
    print(table([row]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
