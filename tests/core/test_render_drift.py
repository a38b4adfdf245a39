"""A reconcile pass as text and JSON Lines: golden files (`make golden` rewrites them)."""

from __future__ import annotations

import json

from reconciler.core.correct import correction_plan, judge_corrections
from reconciler.core.drift import Drift, FieldDrift
from reconciler.core.model import Action, DriftKind
from reconciler.core.outcome import ApplyResult, EntryOutcome, Outcome
from reconciler.core.pass_report import PassReport
from reconciler.core.plan import make_plan
from reconciler.core.render_drift import pass_to_json_line, render_pass
from tests.support.builders import desired, recorded, state
from tests.support.golden import assert_golden

ALPHA, BETA, GAMMA = desired("alpha"), desired("beta"), desired("gamma")
DRIFT = (
    Drift("alpha", DriftKind.MISSING, "m-a", ("(missing)",), detail="recorded model m-a is gone"),
    Drift(
        "beta",
        DriftKind.CHANGED,
        "m-b",
        ("gpuCount",),
        "m-b",
        "MODEL_STATUS_UP",
        "differs",
        (FieldDrift("gpuCount", 2, 1),),
    ),
    Drift("by-hand", DriftKind.UNMANAGED, None, (), "m-9", "MODEL_STATUS_UP", "left alone"),
)
RESULT = ApplyResult(
    (
        EntryOutcome("alpha", Action.REPLACE, Outcome.REPLACED, "m-a2", "MODEL_STATUS_INIT"),
        EntryOutcome("beta", Action.REPLACE, Outcome.FAILED, "m-b", reason="deploy refused: quota"),
        EntryOutcome("gamma", Action.NOOP, Outcome.UNCHANGED, "m-g"),
    )
)


def _report() -> PassReport:
    models = [ALPHA, BETA, GAMMA]
    recorded_state = state(*(recorded(m, f"m-{m.name[0]}") for m in models))
    plan = correction_plan(
        make_plan(models, recorded_state, prune=False), DRIFT, models, heal_changed=True
    )
    judged = judge_corrections(
        DRIFT, plan, RESULT, desired=models, detect_only=False, heal_changed=True
    )
    return PassReport(7, judged, plan, RESULT)


def test_pass_text_golden() -> None:
    assert_golden("reconcile_pass.txt", render_pass(_report()))


def test_pass_json_line_golden() -> None:
    line = pass_to_json_line(_report())
    assert line.count("\n") == 1  # JSON Lines: one object per line
    assert_golden("reconcile_pass.jsonl", line)


def test_pass_json_fields() -> None:
    document = json.loads(pass_to_json_line(_report()))
    assert document["pass"] == 7 and document["ok"] is False  # a correction failed
    assert [(d["name"], d["kind"], d["corrected"]) for d in document["drift"]] == [
        ("alpha", "missing", True),
        ("beta", "changed", False),
        ("by-hand", "unmanaged", False),
    ]
    assert document["corrections"] == [
        {
            "name": "alpha",
            "action": "replace",
            "result": "replaced",
            "modelId": "m-a2",
            "error": None,
        },
        {
            "name": "beta",
            "action": "replace",
            "result": "failed",
            "modelId": "m-b",
            "error": "deploy refused: quota",
        },
    ]
    assert document["summary"]["drift"] == {"changed": 1, "failed": 0, "missing": 1, "unmanaged": 1}


def test_failed_pass_text() -> None:
    text = render_pass(PassReport(2, error="GET /v1/models failed with HTTP 503"))
    assert text == "Pass 2: failed: GET /v1/models failed with HTTP 503\n"
