"""Metrics step: count reconcile passes and render them in the Prometheus text format.

Pure: the caller passes the clock reading and writes the text (adapters/metrics_file.py).
Counters can be seeded from the previous file so `--once` runs from cron keep counting.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from reconciler.core.model import DriftKind
from reconciler.core.money import format_amount
from reconciler.core.pass_report import PassReport

PREFIX = "tensormesh_reconciler_"
PASS_RESULTS = ("ok", "error")
DRIFT_KINDS = tuple(kind.value for kind in DriftKind)

# name, type, help; the order the file lists them in.
_METRICS = (
    ("passes_total", "counter", "Reconcile passes run, by result."),
    ("drift", "gauge", "Drift found in the last pass, by kind."),
    ("drift_found_total", "counter", "Drift found over all passes, by kind."),
    ("corrections_total", "counter", "Corrections attempted, by result."),
    (
        "auth_failures_total",
        "counter",
        "Calls the control plane refused with 401 (token expired, revoked or not valid).",
    ),
    ("last_success_timestamp_seconds", "gauge", "Unix time the last successful pass ended."),
    ("pass_duration_seconds", "gauge", "How long the last pass took, in seconds."),
    (
        "hourly_spend",
        "gauge",
        "Live hourly spend of the managed models in the last pass, per currency.",
    ),
)
REVISION_HELP = "The git revision the last pass reconciled (reconcile --git)."
_SAMPLE = re.compile(r'^(\w+)(?:\{(\w+)="([^"]*)"\})? (\S+)$')


@dataclass(frozen=True, slots=True)
class Counters:
    passes: Mapping[str, int] = field(default_factory=dict)
    drift_last: Mapping[str, int] = field(default_factory=dict)
    drift_found: Mapping[str, int] = field(default_factory=dict)
    corrections: Mapping[str, int] = field(default_factory=dict)
    auth_failures: int = 0
    last_success: float | None = None
    last_duration: float | None = None
    # currency -> exact decimal string; empty when the last pass could not price the models
    spend: Mapping[str, str] = field(default_factory=dict)
    revision: str | None = None  # `reconcile --git`: the commit the last pass reconciled


def count_pass(counters: Counters, report: PassReport, *, now: float, duration: float) -> Counters:
    """The counters after one more pass that ended at `now` (unix seconds)."""
    drift = {kind: 0 for kind in DRIFT_KINDS}
    for item in report.drift:
        drift[item.drift.kind.value] += 1
    result = "ok" if report.ok else "error"
    return replace(
        counters,
        passes=_add(counters.passes, {result: 1}),
        drift_last=drift,
        drift_found=_add(counters.drift_found, drift),
        corrections=_add(counters.corrections, _corrections(report)),
        auth_failures=counters.auth_failures + report.auth_failures,
        last_success=now if report.ok else counters.last_success,
        last_duration=duration,
        spend=_spend(report),
        revision=report.revision if report.revision is not None else counters.revision,
    )


def _spend(report: PassReport) -> dict[str, str]:
    if report.spend is None or not report.spend.known:
        return {}
    return {currency: format_amount(nanos) for currency, nanos in report.spend.hourly.items()}


def _corrections(report: PassReport) -> dict[str, int]:
    counts: dict[str, int] = {}
    for outcome in report.corrections:
        counts[outcome.result.value] = counts.get(outcome.result.value, 0) + 1
    return counts


def _add(base: Mapping[str, int], more: Mapping[str, int]) -> dict[str, int]:
    out = dict(base)
    for key, value in more.items():
        out[key] = out.get(key, 0) + value
    return out


def render_metrics(counters: Counters) -> str:
    """Prometheus text exposition format (node-exporter textfile collector), sorted labels."""
    samples: dict[str, list[tuple[str | None, str, float]]] = {
        "passes_total": _labelled("result", {**dict.fromkeys(PASS_RESULTS, 0), **counters.passes}),
        "drift": _labelled("kind", {**dict.fromkeys(DRIFT_KINDS, 0), **counters.drift_last}),
        "drift_found_total": _labelled(
            "kind", {**dict.fromkeys(DRIFT_KINDS, 0), **counters.drift_found}
        ),
        "corrections_total": _labelled("result", counters.corrections),
        "auth_failures_total": _single(float(counters.auth_failures)),
        "last_success_timestamp_seconds": _single(counters.last_success),
        "pass_duration_seconds": _single(counters.last_duration),
        "hourly_spend": [],
    }
    lines = []
    for name, kind, help_text in _METRICS:
        lines.append(f"# HELP {PREFIX}{name} {help_text}")
        lines.append(f"# TYPE {PREFIX}{name} {kind}")
        for label, value, number in samples[name]:
            labels = "" if label is None else f'{{{label}="{value}"}}'
            lines.append(f"{PREFIX}{name}{labels} {_number(number)}")
    # Written as the exact decimal, not through a float (the format reads any decimal).
    lines.extend(
        f'{PREFIX}hourly_spend{{currency="{currency}"}} {amount}'
        for currency, amount in sorted(counters.spend.items())
    )
    if counters.revision is not None:
        # Only in --git mode: the info-style series Argo CD and Flux expose for a revision.
        lines.append(f"# HELP {PREFIX}revision_info {REVISION_HELP}")
        lines.append(f"# TYPE {PREFIX}revision_info gauge")
        lines.append(f'{PREFIX}revision_info{{revision="{counters.revision}"}} 1')
    return "\n".join(lines) + "\n"


def _labelled(label: str, values: Mapping[str, int]) -> list[tuple[str | None, str, float]]:
    return [(label, key, float(values[key])) for key in sorted(values)]


def _single(value: float | None) -> list[tuple[str | None, str, float]]:
    # Absent until known: a 0 timestamp would read as "last success in 1970".
    return [] if value is None else [(None, "", value)]


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:.3f}"


def parse_counters(text: str) -> Counters:
    """Read back the counters (the *_total series and last success) of a file we wrote.

    Lines that are not ours are ignored: a corrupt or foreign file just restarts the counts.
    """
    totals: dict[str, dict[str, int]] = {"passes_total": {}, "drift_found_total": {}}
    totals["corrections_total"] = {}
    last_success = None
    auth_failures = 0
    for line in text.splitlines():
        match = _SAMPLE.match(line.strip())
        if match is None or not match.group(1).startswith(PREFIX):
            continue
        name, value = match.group(1)[len(PREFIX) :], match.group(4)
        try:
            number = float(value)
        except ValueError:
            continue
        if name in totals and match.group(3) is not None:
            totals[name][match.group(3)] = int(number)
        elif name == "last_success_timestamp_seconds":
            last_success = number
        elif name == "auth_failures_total" and match.group(2) is None:
            auth_failures = int(number)
    return Counters(
        passes=totals["passes_total"],
        drift_found=totals["drift_found_total"],
        corrections=totals["corrections_total"],
        auth_failures=auth_failures,
        last_success=last_success,
    )
