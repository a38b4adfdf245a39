"""`reconcile --git` records the revision a pass reconciled in its text, JSON and metrics;
outside --git nothing changes."""

from __future__ import annotations

import json

from reconciler.core import metrics
from reconciler.core.pass_report import PassReport
from reconciler.core.render_drift import pass_to_json_line, render_pass

REVISION = "0123456789abcdef0123456789abcdef01234567"


def test_a_pass_at_a_revision_names_it() -> None:
    report = PassReport(4, revision=REVISION)
    assert render_pass(report).startswith("Pass 4 at 0123456789ab: no drift.")
    assert json.loads(pass_to_json_line(report))["revision"] == REVISION
    counted = metrics.count_pass(metrics.Counters(), report, now=1.0, duration=0.5)
    text = metrics.render_metrics(counted)
    assert f'tensormesh_reconciler_revision_info{{revision="{REVISION}"}} 1\n' in text
    # A failed pass later (no revision: the fetch failed) keeps the last one known.
    later = metrics.count_pass(counted, PassReport(5, error="x"), now=2.0, duration=0.1)
    assert later.revision == REVISION


def test_outside_git_mode_nothing_is_added() -> None:
    report = PassReport(1)
    assert render_pass(report).startswith("Pass 1: no drift.")
    assert "revision" not in json.loads(pass_to_json_line(report))
    counted = metrics.count_pass(metrics.Counters(), report, now=1.0, duration=0.5)
    assert "revision_info" not in metrics.render_metrics(counted)
