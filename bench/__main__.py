"""`python -m bench`: run the benchmark suite, print the table, write bench/results/*.json.

Flags: --sizes 1000 5000 20000, --quick (N=200 unless --sizes, one round: checks the suite
works),
--rounds R, --compare FILE, --offline-only, --no-postgres, --results-dir DIR.
Never fails on figures.
"""

from __future__ import annotations

import argparse
import compileall
import platform
import sys
import tempfile
import time
from pathlib import Path

from bench import results, suite

DEFAULT_SIZES = (1000, 5000, 20000)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", help="default 1000 5000 20000")
    parser.add_argument(
        "--quick", action="store_true", help="N=200 (unless --sizes), one round: a smoke run"
    )
    parser.add_argument("--rounds", type=int, default=3, help="best of R for offline steps")
    parser.add_argument(
        "--api-rounds", type=int, default=3, help="best of R for apply (each in a fresh sandbox)"
    )
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--offline-only", action="store_true", help="skip apply and reconcile")
    parser.add_argument(
        "--no-postgres", action="store_true", help="skip the PostgreSQL state's rows"
    )
    parser.add_argument("--compare", type=Path, metavar="FILE", help="an earlier results JSON")
    parser.add_argument(
        "--results-dir", type=Path, default=Path(__file__).resolve().parent / "results"
    )
    return parser


def compile_package() -> None:
    """Measure the CLI as pip installs it, with its bytecode compiled: an editable install
    has none, and where PYTHONDONTWRITEBYTECODE is set (as on this project's machines)
    every run would otherwise compile all ~80 modules again (~40 ms of each start)."""
    package = Path(__file__).resolve().parents[1] / "reconciler"
    compileall.compile_dir(package, quiet=1)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    compile_package()
    sizes = args.sizes or ([200] if args.quick else list(DEFAULT_SIZES))
    settings = suite.Settings(
        rounds=1 if args.quick else args.rounds,
        startup_rounds=1 if args.quick else max(args.rounds, 5),
        api_rounds=1 if args.quick else args.api_rounds,
        latency_ms=args.latency_ms,
        concurrency=args.concurrency,
    )
    started = time.strftime("%Y-%m-%dT%H:%M:%S")
    rows: list[results.Result] = []
    with tempfile.TemporaryDirectory(prefix="tensormesh-bench-") as tmp:
        scratch = Path(tmp)
        rows += suite.startup_steps(suite.workload.build(scratch / "startup", 1), settings)
        for n in sizes:
            print(f"bench: N={n} ...", file=sys.stderr, flush=True)
            rows += suite.run_size(
                n, settings, scratch, api=not args.offline_only, postgres=not args.no_postgres
            )
    extra = [g for g in (suite.growth(rows, "plan no-op one-per-file", 25.0),) if g is not None]
    print(results.table(rows, extra))
    document = {
        "started": started,
        "sizes": sizes,
        "settings": {
            "rounds": settings.rounds,
            "apiRounds": settings.api_rounds,
            "latencyMs": settings.latency_ms,
            "concurrency": settings.concurrency,
        },
        "host": {"python": sys.version.split()[0], "platform": platform.platform()},
        "results": [row.to_json() for row in rows],
        "growth": [{"text": text, "passed": ok} for text, ok in extra],
    }
    # Read the earlier file before writing: it may well be latest.json itself.
    comparison = results.compare(args.compare, rows) if args.compare else None
    path = results.write(args.results_dir, document)
    print(f"\nresults: {path}")
    if comparison:
        print(comparison)
    return 0


if __name__ == "__main__":
    sys.exit(main())
