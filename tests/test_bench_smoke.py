"""`python -m bench --quick` runs end to end at a small N: the suite works (its figures are not
judged)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
STEPS = {
    "start --help",
    "start validate one file",
    "validate one-per-file",
    "validate multi-doc",
    "plan no-op one-per-file",
    "plan no-op multi-doc",
    "plan 1% changed",
    "apply N creates",
    "reconcile --once --detect-only",
    "reconcile pass, N live (one list call)",
    "reconcile pass with --serve",
}
PG_STEPS = {"plan no-op, PostgreSQL state", "apply N creates, PostgreSQL state"}
# Small, as only the suite's working is checked, yet above the bench's 32 concurrent creates.
N = 40


@pytest.mark.e2e
@pytest.mark.timeout(180)
def test_quick_bench_measures_every_step_and_writes_json(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--sizes",
            str(N),
            "--results-dir",
            str(tmp_path),
        ],
        check=False,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert done.returncode == 0, done.stderr
    latest = json.loads((tmp_path / "latest.json").read_text())
    rows = {row["step"]: row for row in latest["results"]}
    from tests.support.postgres import find_bin_dir

    expected = STEPS | (PG_STEPS if find_bin_dir() is not None else set())
    assert set(rows) == expected
    for step, row in rows.items():
        assert row["wall"] > 0 and row["cpu"] > 0 and row["peak_mb"] > 5, step
        if step not in ("start --help", "start validate one file"):
            assert row["n"] == N, step
            assert row["baseline"] and row["baseline"] > 0, step
    # The table names each step with its verdict column.
    for step in expected:
        assert step in done.stdout
    assert len(list(tmp_path.glob("2*.json"))) == 1

    again = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--sizes", str(N), "--offline-only",
         "--results-dir", str(tmp_path / "2"), "--compare", str(tmp_path / "latest.json")],
        check=False,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=170,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "compared with" in again.stdout and f"plan no-op one-per-file N={N}:" in again.stdout
