"""Benchmark: validating N one-deployment manifest files vs. merely parsing them.

Usage: .venv/bin/python -m bench.bench_validate [N]   (default 5000)
Prints both timings from the same run and their ratio (target: validate <= 2x parse-only).
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from bench import workload
from reconciler.adapters import manifest_files


def write_files(folder: Path, count: int) -> list[str]:
    """One deployment per file, the same manifests as the suite's workload."""
    paths = []
    for index in range(count):
        path = folder / f"model-{index:05d}.yaml"
        path.write_text(workload.manifest_text(index), encoding="utf-8")
        paths.append(str(path))
    return paths


def parse_only(paths: list[str]) -> int:
    documents = 0
    for path in sorted(paths):
        with open(path, "rb") as handle:
            documents += sum(1 for _ in yaml.load_all(handle.read(), Loader=yaml.CSafeLoader))
    return documents


def timed(action: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) for one run."""
    wall, cpu = time.perf_counter(), time.process_time()
    action()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    rounds = 3  # alternate the two, keep each one's best: other load on the machine only adds
    with tempfile.TemporaryDirectory(prefix="bench-validate-") as tmp:
        paths = write_files(Path(tmp), count)
        desired, issues, files = manifest_files.check_manifests([tmp])  # warm-up, and sanity
        assert parse_only(paths) == count and len(desired) == count and not issues
        assert files == count
        parse_runs, validate_runs = [], []
        for _ in range(rounds):
            parse_runs.append(timed(lambda: parse_only(paths)))
            validate_runs.append(timed(lambda: manifest_files.check_manifests([tmp])))

    parse_wall, parse_cpu = (min(run[i] for run in parse_runs) for i in (0, 1))
    validate_wall, validate_cpu = (min(run[i] for run in validate_runs) for i in (0, 1))
    print(f"files:       {count} (best of {rounds} alternating rounds)")
    print(
        f"parse only:  {parse_wall:.3f} s wall, {parse_cpu:.3f} s CPU  (yaml.load_all, CSafeLoader)"
    )
    print(f"validate:    {validate_wall:.3f} s wall, {validate_cpu:.3f} s CPU  (check_manifests)")
    print(
        f"ratio:       {validate_wall / parse_wall:.2f}x wall, "
        f"{validate_cpu / parse_cpu:.2f}x CPU  (target <= 2x)"
    )
    print(
        f"per file:    {validate_cpu / count * 1e6:.0f} us validate, "
        f"{parse_cpu / count * 1e6:.0f} us parse (CPU)"
    )


if __name__ == "__main__":
    main()
