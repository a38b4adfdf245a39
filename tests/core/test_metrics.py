"""Metrics counting and Prometheus text rendering (pure), plus reading our own file back."""

from __future__ import annotations

from reconciler.core.correct import DriftOutcome
from reconciler.core.drift import Drift
from reconciler.core.metrics import Counters, count_pass, parse_counters, render_metrics
from reconciler.core.model import Action, DriftKind
from reconciler.core.outcome import ApplyResult, EntryOutcome, Outcome
from reconciler.core.pass_report import PassReport

MISSING = DriftOutcome(Drift("a", DriftKind.MISSING, "m-1"), corrected=True)
UNMANAGED = DriftOutcome(Drift("z", DriftKind.UNMANAGED, live_model_id="m-9"), corrected=False)
HEALED = ApplyResult((EntryOutcome("a", Action.REPLACE, Outcome.REPLACED, "m-2"),))


def _samples(text: str) -> dict[str, str]:
    return dict(line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#"))


def test_a_pass_with_drift_and_a_correction() -> None:
    report = PassReport(1, (MISSING, UNMANAGED), result=HEALED)
    text = render_metrics(count_pass(Counters(), report, now=1700000000.0, duration=0.25))
    samples = _samples(text)
    assert samples['tensormesh_reconciler_passes_total{result="ok"}'] == "1"
    assert samples['tensormesh_reconciler_passes_total{result="error"}'] == "0"
    assert samples['tensormesh_reconciler_drift{kind="missing"}'] == "1"
    assert samples['tensormesh_reconciler_drift{kind="unmanaged"}'] == "1"
    assert samples['tensormesh_reconciler_drift{kind="changed"}'] == "0"
    assert samples['tensormesh_reconciler_drift_found_total{kind="missing"}'] == "1"
    assert samples['tensormesh_reconciler_corrections_total{result="replaced"}'] == "1"
    assert samples["tensormesh_reconciler_last_success_timestamp_seconds"] == "1700000000"
    assert samples["tensormesh_reconciler_pass_duration_seconds"] == "0.250"


def test_every_metric_has_help_and_type_lines() -> None:
    text = render_metrics(Counters())
    for name, kind in [
        ("passes_total", "counter"),
        ("drift", "gauge"),
        ("drift_found_total", "counter"),
        ("corrections_total", "counter"),
        ("last_success_timestamp_seconds", "gauge"),
        ("pass_duration_seconds", "gauge"),
    ]:
        assert f"# TYPE tensormesh_reconciler_{name} {kind}\n" in text
        assert f"# HELP tensormesh_reconciler_{name} " in text
    # Never a success timestamp of 0 before the first success.
    assert "\ntensormesh_reconciler_last_success_timestamp_seconds " not in text


def test_gauges_reset_counters_accumulate_and_failures_keep_last_success() -> None:
    first = count_pass(Counters(), PassReport(1, (MISSING,)), now=100.0, duration=1.0)
    second = count_pass(first, PassReport(2, error="API down"), now=200.0, duration=2.0)
    samples = _samples(render_metrics(second))
    assert samples['tensormesh_reconciler_passes_total{result="ok"}'] == "1"
    assert samples['tensormesh_reconciler_passes_total{result="error"}'] == "1"
    assert samples['tensormesh_reconciler_drift{kind="missing"}'] == "0"
    assert samples['tensormesh_reconciler_drift_found_total{kind="missing"}'] == "1"
    assert samples["tensormesh_reconciler_last_success_timestamp_seconds"] == "100"


def test_counters_survive_a_round_trip_through_the_file() -> None:
    counters = count_pass(
        Counters(), PassReport(1, (MISSING,), result=HEALED), now=100.0, duration=1.0
    )
    again = count_pass(
        parse_counters(render_metrics(counters)), PassReport(2), now=200.0, duration=1.0
    )
    samples = _samples(render_metrics(again))
    assert samples['tensormesh_reconciler_passes_total{result="ok"}'] == "2"
    assert samples['tensormesh_reconciler_drift_found_total{kind="missing"}'] == "1"
    assert samples['tensormesh_reconciler_corrections_total{result="replaced"}'] == "1"


def test_a_foreign_or_corrupt_file_restarts_the_counts() -> None:
    assert parse_counters("garbage\nother_metric 5\n\x00") == Counters()


def test_rendering_is_byte_stable() -> None:
    counters = count_pass(Counters(), PassReport(1, (UNMANAGED, MISSING)), now=5.0, duration=0.5)
    assert render_metrics(counters) == render_metrics(counters)


def test_live_spend_is_a_gauge_per_currency_with_exact_amounts() -> None:
    from reconciler.core.spend import Spend

    spend = Spend({"USD": 24_950_000_001, "EUR": 6_000_000_000}, models=3)
    report = PassReport(1, spend=spend)
    text = render_metrics(count_pass(Counters(), report, now=1.0, duration=0.1))
    samples = _samples(text)
    assert samples['tensormesh_reconciler_hourly_spend{currency="USD"}'] == "24.950000001"
    assert samples['tensormesh_reconciler_hourly_spend{currency="EUR"}'] == "6.00"
    assert "# TYPE tensormesh_reconciler_hourly_spend gauge" in text
    # Unknown spend (no prices this pass): no sample, rather than a stale or zero one.
    unknown = PassReport(2, spend=Spend({}, unknown_reason="no prices"))
    later = render_metrics(count_pass(Counters(), unknown, now=2.0, duration=0.1))
    assert "hourly_spend{" not in later


def test_auth_failures_are_counted_from_zero_and_kept_across_runs() -> None:
    text = render_metrics(Counters())
    assert _samples(text)["tensormesh_reconciler_auth_failures_total"] == "0"
    assert "# TYPE tensormesh_reconciler_auth_failures_total counter" in text
    refused = PassReport(1, error="GET /v1/models failed with HTTP 401", auth_failures=2)
    counters = count_pass(Counters(), refused, now=1.0, duration=0.1)
    counters = count_pass(counters, PassReport(2), now=2.0, duration=0.1)
    text = render_metrics(counters)
    assert _samples(text)["tensormesh_reconciler_auth_failures_total"] == "2"
    # A `--once` run from cron reads the file back and keeps counting.
    again = count_pass(parse_counters(text), PassReport(3, auth_failures=1), now=3.0, duration=0)
    assert _samples(render_metrics(again))["tensormesh_reconciler_auth_failures_total"] == "3"
