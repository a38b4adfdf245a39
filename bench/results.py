"""Benchmark results: one row per (step, N), the printed table, JSON files and comparisons.

Formats and files only; the figures come from bench/suite.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Result:
    step: str
    n: int
    wall: float  # best of `rounds`, seconds
    cpu: float  # CPU seconds of that best run
    baseline: float | None  # seconds, measured (offline) or computed (API-bound)
    baseline_kind: str
    target: float | None  # max ratio to the baseline; None: reported, not judged
    peak_mb: float
    rounds: int
    note: str = ""
    peak_limit_mb: float | None = None

    @property
    def ratio(self) -> float | None:
        return None if not self.baseline else self.wall / self.baseline

    @property
    def passed(self) -> bool | None:
        verdicts = []
        if self.target is not None and self.ratio is not None:
            verdicts.append(self.ratio <= self.target)
        if self.peak_limit_mb is not None:
            verdicts.append(self.peak_mb <= self.peak_limit_mb)
        return all(verdicts) if verdicts else None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(ratio=self.ratio, passed=self.passed)
        return out


def _verdict(passed: bool | None) -> str:
    return "-" if passed is None else ("PASS" if passed else "FAIL")


def table(results: Sequence[Result], extra: Sequence[tuple[str, bool | None]] = ()) -> str:
    header = ("step", "N", "time s", "cpu s", "baseline s", "ratio", "target", "peak MB", "")
    rows = [header]
    for r in results:
        target = "" if r.target is None else f"<={r.target:g}x"
        if r.peak_limit_mb is not None:
            target += f"{' ' if target else ''}<{r.peak_limit_mb:g}MB"
        rows.append(
            (
                r.step,
                str(r.n),
                f"{r.wall:.3f}",
                f"{r.cpu:.3f}",
                "" if r.baseline is None else f"{r.baseline:.3f} {r.baseline_kind}",
                "" if r.ratio is None else f"{r.ratio:.2f}x",
                target or "-",
                f"{r.peak_mb:.0f}",
                _verdict(r.passed),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    notes = [f"  {r.step} N={r.n}: {r.note}" for r in results if r.note]
    if notes:
        lines += ["", "notes:", *notes]
    if extra:
        lines += ["", *[f"{_verdict(ok):4}  {text}" for text, ok in extra]]
    return "\n".join(lines)


def write(folder: Path, document: dict[str, Any]) -> Path:
    """bench/results/<timestamp>.json plus latest.json; returns the timestamped path."""
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    path = folder / f"{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(text, encoding="utf-8")
    (folder / "latest.json").write_text(text, encoding="utf-8")
    return path


def compare(old_path: Path, results: Sequence[Result]) -> str:
    """The wall-time and memory delta of each (step, N) against an earlier results file."""
    old = json.loads(old_path.read_text(encoding="utf-8"))
    before = {(row["step"], row["n"]): row for row in old.get("results", [])}
    lines = [f"compared with {old_path} ({old.get('started', '?')}):"]
    for r in results:
        row = before.get((r.step, r.n))
        if row is None:
            lines.append(f"  {r.step} N={r.n}: new")
            continue
        change = (r.wall - row["wall"]) / row["wall"] * 100 if row["wall"] else 0.0
        lines.append(
            f"  {r.step} N={r.n}: {row['wall']:.3f} s -> {r.wall:.3f} s ({change:+.0f}%), "
            f"peak {row['peak_mb']:.0f} -> {r.peak_mb:.0f} MB"
        )
    return "\n".join(lines)
