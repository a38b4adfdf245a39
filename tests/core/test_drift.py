"""Table tests of drift detection, the correction plan and judging corrections (pure)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from reconciler.core.correct import NotCorrected, correction_plan, judge_corrections
from reconciler.core.drift import Drift, detect_drift, is_failed_status
from reconciler.core.model import (
    STATUS_DELETED,
    STATUS_UP,
    Action,
    DesiredModel,
    DriftKind,
    Intent,
    LiveModel,
    ReconcilePolicy,
)
from reconciler.core.outcome import ApplyResult, EntryOutcome, Outcome
from reconciler.core.plan import make_plan
from reconciler.core.spec import normalize_spec
from tests.support.builders import BASE_SPEC, desired, recorded, state

LLAMA = desired("llama")
ENTRY = recorded(LLAMA, "m-1")


def live(
    model_id: str = "m-1", name: str = "llama", status: str = STATUS_UP, **raw: Any
) -> LiveModel:
    """A live model as the adapter parses it: the server's raw fields, normalised."""
    fields = {**BASE_SPEC, **raw}
    return LiveModel(model_id, name, status, normalize_spec(fields), user_id="u")


@pytest.mark.parametrize(
    ("live_models", "expected"),
    [
        pytest.param([live()], [], id="in-sync"),
        # grpc-gateway sends int64 as strings and omits zero values: no phantom diff.
        pytest.param([live(gpuCount="1")], [], id="int64-string-is-no-drift"),
        pytest.param([live(description="", modelSpec={})], [], id="omitted-zero-is-no-drift"),
        pytest.param(
            [live(infra={"cloudProvider": "CLOUD_PROVIDER_NEBIUS", "x": ""})],
            [],
            id="nested-zero-is-no-drift",
        ),
        pytest.param([], [("llama", DriftKind.MISSING, ("(missing)",))], id="gone"),
        pytest.param(
            [live(status=STATUS_DELETED)],
            [("llama", DriftKind.MISSING, ("(missing)",))],
            id="deleted-counts-as-absent",
        ),
        pytest.param(
            [live(model_id="m-2")],
            [("llama", DriftKind.MISSING, ("(missing)",))],
            id="same-name-other-id-is-missing",
        ),
        pytest.param(
            [live(status="MODEL_STATUS_FAILED")],
            [("llama", DriftKind.FAILED, ("(failed)",))],
            id="failed",
        ),
        pytest.param(
            [live(status="MODEL_STATUS_ERROR_OOM")],
            [("llama", DriftKind.FAILED, ("(failed)",))],
            id="error-is-failed",
        ),
        pytest.param([live(status="MODEL_STATUS_INIT")], [], id="init-is-not-failed"),
        pytest.param(
            [live(gpuCount="2")],
            [("llama", DriftKind.CHANGED, ("gpuCount",))],
            id="changed-gpu-count",
        ),
        pytest.param(
            [live(gpuType="GPU_TYPE_A100", description="x")],
            [("llama", DriftKind.CHANGED, ("description", "gpuType"))],
            id="changed-two-fields",
        ),
        pytest.param(
            [live(), live("m-9", "stranger")],
            [("stranger", DriftKind.UNMANAGED, ())],
            id="unmanaged",
        ),
        pytest.param(
            [live(), live("m-9", "stranger", status=STATUS_DELETED)],
            [],
            id="deleted-stranger-is-not-unmanaged",
        ),
    ],
)
def test_detect_drift(
    live_models: list[LiveModel], expected: list[tuple[str, DriftKind, tuple[str, ...]]]
) -> None:
    found = detect_drift([LLAMA], state(ENTRY), live_models)
    assert [(d.name, d.kind, d.fields) for d in found] == expected


def test_fields_the_api_never_returns_are_not_compared() -> None:
    # kvCacheEnabled is accepted by Deploy Model but never reported back.
    model = desired("llama", kvCacheEnabled=True, nodeId="node-a")
    assert detect_drift([model], state(recorded(model, "m-1")), [live()]) == ()


def test_names_known_to_manifests_state_or_intents_are_not_unmanaged() -> None:
    planned = desired("planned")  # in the manifests, not applied yet
    intents = {"half": Intent("half", "half", 1, Action.CREATE)}
    world = [live(), live("m-2", "planned"), live("m-3", "half")]
    assert detect_drift([LLAMA, planned], state(ENTRY, intents=intents), world) == ()


def test_drift_details_name_the_models() -> None:
    (failed,) = detect_drift([LLAMA], state(ENTRY), [live(status="MODEL_STATUS_FAILED")])
    assert failed.model_id == "m-1"
    assert failed.live_model_id == "m-1"
    assert failed.status == "MODEL_STATUS_FAILED"
    assert "MODEL_STATUS_FAILED" in failed.detail


def test_drift_is_sorted_by_name() -> None:
    other = desired("alpha")
    world = [live("x", "zeta"), live("y", "beta")]
    found = detect_drift([LLAMA, other], state(ENTRY, recorded(other, "m-a")), world)
    assert [d.name for d in found] == ["alpha", "beta", "llama", "zeta"]


@pytest.mark.parametrize(
    ("status", "failed"),
    [
        ("MODEL_STATUS_FAILED", True),
        ("MODEL_STATUS_ERROR", True),
        ("MODEL_STATUS_DEPLOYMENT_FAILED", True),
        ("MODEL_STATUS_CRASH_LOOP", True),
        ("MODEL_STATUS_CRASHED", True),
        ("MODEL_STATUS_INIT", False),
        ("MODEL_STATUS_DELETED", False),
        ("MODEL_STATUS_UP", False),
        ("MODEL_STATUS_UNSPECIFIED", False),
    ],
)
def test_is_failed_status(status: str, failed: bool) -> None:
    assert is_failed_status(status) is failed


# -- correction_plan ----------------------------------------------------------


def _drift(name: str, kind: DriftKind, *fields: str) -> Drift:
    return Drift(name, kind, model_id="m-1", fields=fields)


def _plan(*models: DesiredModel, entries: tuple[Any, ...] = (ENTRY,), prune: bool = False) -> Any:
    return make_plan(list(models), state(*entries), prune=prune)


@pytest.mark.parametrize(
    ("kind", "fields", "expected_fields"),
    [
        (DriftKind.MISSING, ("(missing)",), ("(missing)",)),
        (DriftKind.FAILED, ("(failed)",), ("(failed)",)),
        (DriftKind.CHANGED, ("gpuCount", "gpuType"), ("gpuCount", "gpuType")),
    ],
)
def test_correction_plan_replaces_drifted_noops(
    kind: DriftKind, fields: tuple[str, ...], expected_fields: tuple[str, ...]
) -> None:
    plan = correction_plan(
        _plan(LLAMA), [_drift("llama", kind, *fields)], [LLAMA], heal_changed=True
    )
    (change,) = plan.changes
    assert change.action is Action.REPLACE
    assert change.field_names == expected_fields
    assert change.drift is kind
    assert change.recorded == ENTRY  # REPLACE deletes the recorded model first
    assert change.model_id == "m-1"


@pytest.mark.parametrize(
    ("self_heal", "heal_changed", "kind", "expected"),
    [
        # The default since the second week: recreate what is gone or failed ...
        (None, False, DriftKind.MISSING, Action.REPLACE),
        (None, False, DriftKind.FAILED, Action.REPLACE),
        # ... but a running model changed by hand (on-call scaled it) is only reported.
        (None, False, DriftKind.CHANGED, Action.NOOP),
        (None, True, DriftKind.CHANGED, Action.REPLACE),
        (True, False, DriftKind.CHANGED, Action.REPLACE),
        (False, True, DriftKind.CHANGED, Action.NOOP),
        (False, False, DriftKind.MISSING, Action.NOOP),
        (False, False, DriftKind.FAILED, Action.NOOP),
    ],
)
def test_self_heal_policy_decides_what_reconcile_replaces(
    self_heal: bool | None, heal_changed: bool, kind: DriftKind, expected: Action
) -> None:
    model = replace(LLAMA, policy=ReconcilePolicy(self_heal=self_heal))
    drift = [_drift("llama", kind, "gpuCount")]
    plan = correction_plan(_plan(model), drift, [model], heal_changed=heal_changed)
    (change,) = plan.changes
    assert (change.action, change.drift) == (expected, kind)
    judged = judge_corrections(
        drift, plan, None, desired=[model], detect_only=False, heal_changed=heal_changed
    )
    if expected is Action.NOOP:
        assert judged[0].reason is not None and not judged[0].corrected


def test_changed_drift_carries_live_and_wanted_values() -> None:
    (item,) = detect_drift([LLAMA], state(ENTRY), [live(gpuCount="4")])
    assert item.kind is DriftKind.CHANGED
    assert [(v.field, v.live, v.wanted) for v in item.values] == [("gpuCount", 4, 1)]
    assert "gpuCount 4 (wanted 1)" in item.detail
    plan = correction_plan(_plan(LLAMA), [item], [LLAMA], heal_changed=True)
    (field,) = plan.changes[0].fields
    assert (field.before, field.after) == (4, 1)
    # Reported only (the default): a no-op that still says what differs, for plan --refresh.
    (reported,) = correction_plan(_plan(LLAMA), [item], [LLAMA]).changes
    assert reported.action is Action.NOOP and not reported.makes_api_call
    assert [(f.field, f.before, f.after) for f in reported.fields] == [("gpuCount", 4, 1)]


def test_correction_plan_without_drift_is_the_plan() -> None:
    plan = _plan(LLAMA)
    assert correction_plan(plan, [], [LLAMA]) == plan


def test_self_heal_off_is_marked_but_not_replaced() -> None:
    model = replace(LLAMA, policy=ReconcilePolicy(self_heal=False))
    plan = correction_plan(_plan(model), [_drift("llama", DriftKind.MISSING, "(missing)")], [model])
    (change,) = plan.changes
    assert (change.action, change.drift, plan.has_api_calls) == (
        Action.NOOP,
        DriftKind.MISSING,
        False,
    )


def test_unmanaged_never_enters_the_plan() -> None:
    stranger = Drift("stranger", DriftKind.UNMANAGED, live_model_id="m-9")
    plan = correction_plan(_plan(LLAMA), [stranger], [LLAMA])
    assert [c.name for c in plan.changes] == ["llama"]
    assert not plan.has_api_calls


def test_state_only_entry_is_not_redeployed_and_not_deleted_without_prune() -> None:
    plan = correction_plan(_plan(), [_drift("llama", DriftKind.MISSING, "(missing)")], [])
    (change,) = plan.changes
    assert (change.action, change.skipped) == (Action.DELETE, True)
    assert not plan.has_api_calls


def test_git_side_replace_is_kept_as_planned() -> None:
    bigger = desired("llama", gpuCount=2)
    plan = correction_plan(
        _plan(bigger), [_drift("llama", DriftKind.MISSING, "(missing)")], [bigger]
    )
    (change,) = plan.changes
    assert change.action is Action.REPLACE
    assert change.field_names == ("gpuCount",)
    assert change.drift is DriftKind.MISSING


# -- judge_corrections --------------------------------------------------------


def _result(result: Outcome, reason: str | None = None) -> ApplyResult:
    return ApplyResult((EntryOutcome("llama", Action.REPLACE, result, "m-2", reason=reason),))


NOT_RUN = NotCorrected.NOT_RUN.value


@pytest.mark.parametrize(
    ("model", "kind", "result", "detect_only", "expected"),
    [
        (LLAMA, DriftKind.MISSING, _result(Outcome.REPLACED), False, (True, None, None)),
        (LLAMA, DriftKind.MISSING, _result(Outcome.ADOPTED), False, (True, None, None)),
        (
            LLAMA,
            DriftKind.MISSING,
            _result(Outcome.FAILED, "boom"),
            False,
            (False, NotCorrected.FAILED, "boom"),
        ),
        # Failed without a word of why: said as not run, never as an empty reason.
        (
            LLAMA,
            DriftKind.MISSING,
            _result(Outcome.NOT_STARTED),
            False,
            (False, NotCorrected.NOT_RUN, NOT_RUN),
        ),
        (LLAMA, DriftKind.MISSING, None, False, (False, NotCorrected.NOT_RUN, NOT_RUN)),
        (
            LLAMA,
            DriftKind.MISSING,
            None,
            True,
            (False, NotCorrected.DETECT_ONLY, "--detect-only: nothing is changed"),
        ),
        (
            replace(LLAMA, policy=ReconcilePolicy(self_heal=False)),
            DriftKind.CHANGED,
            None,
            False,
            (False, NotCorrected.SELF_HEAL_OFF, "selfHeal is off"),
        ),
        (
            None,
            DriftKind.MISSING,
            None,
            False,
            (False, NotCorrected.NOT_IN_MANIFESTS, NotCorrected.NOT_IN_MANIFESTS.value),
        ),
        (
            LLAMA,
            DriftKind.UNMANAGED,
            _result(Outcome.REPLACED),
            False,
            (False, NotCorrected.UNMANAGED, "unmanaged models are reported, never deleted"),
        ),
    ],
)
def test_judge_corrections(
    model: DesiredModel | None,
    kind: DriftKind,
    result: ApplyResult | None,
    detect_only: bool,
    expected: tuple[bool, NotCorrected | None, str | None],
) -> None:
    models = [model] if model is not None else []
    item = _drift("llama", kind, "(missing)")
    plan = correction_plan(_plan(*models), [item], models)
    (judged,) = judge_corrections([item], plan, result, desired=models, detect_only=detect_only)
    assert (judged.corrected, judged.reason, judged.reason_text) == expected
