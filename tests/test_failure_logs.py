"""A failed model's deployment logs with `failed` drift and in a failed apply's reason,
against the in-memory FakeApi (best effort: no logs, or a failing logs call, change
nothing else)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from reconciler import pipeline, reconcile
from reconciler.core.errors import ApiServerError
from reconciler.core.model import DriftKind
from reconciler.core.render_drift import pass_to_json, render_pass
from tests.support.fake_api import FakeApi
from tests.test_apply import desired, run
from tests.test_reconcile import ENV, World

LINES = [f"line {n}" for n in range(1, 9)]


@pytest.fixture
def world(tmp_path: Path) -> World:
    w = World(tmp_path)
    w.write("llama")
    w.apply()
    return w


def _fail(world: World) -> str:
    model_id = world.recorded_id("llama")
    model = world.api.models[model_id]
    world.api.models[model_id] = replace(model, status="MODEL_STATUS_FAILED")
    assert model.deployment_id is not None
    return model.deployment_id


def test_failed_drift_carries_the_latest_five_log_lines(world: World) -> None:
    deployment = _fail(world)
    world.api.logs[deployment] = LINES
    report = world.run_pass(detect_only=True)
    (item,) = report.drift
    assert item.drift.logs == tuple(LINES[-5:])
    assert world.api.logs_calls == [(world.api.user_id, deployment, 5)]
    (drift_json,) = pass_to_json(report)["drift"]
    assert drift_json["kind"] == "failed" and drift_json["logs"] == LINES[-5:]
    text = render_pass(report)
    assert "recent logs of llama:" in text
    assert "    line 8" in text and "line 3" not in text


def test_no_logs_leave_an_empty_list_and_other_drift_makes_no_logs_call(world: World) -> None:
    _fail(world)
    report = world.run_pass(detect_only=True)
    assert pass_to_json(report)["drift"][0]["logs"] == []
    assert "recent logs" not in render_pass(report)

    world.api.models[world.recorded_id("llama")] = replace(
        world.api.models[world.recorded_id("llama")], status="MODEL_STATUS_UP"
    )
    world.api.delete_model(world.api.user_id, world.recorded_id("llama"))
    world.api.logs_calls.clear()
    report = world.run_pass(detect_only=True)
    assert pass_to_json(report)["drift"][0]["kind"] == "missing"
    assert "logs" not in pass_to_json(report)["drift"][0]
    assert world.api.logs_calls == []


def test_a_failing_logs_call_never_fails_the_pass(world: World) -> None:
    _fail(world)
    world.api.logs_error = ApiServerError("GET /v1/observability/…/logs", status=500)
    report = world.run_pass()
    assert report.ok, report.error
    assert report.drift[0].drift.logs == ()
    assert report.drift[0].corrected  # the failed model was still replaced


def test_a_failed_apply_gives_the_logs_as_its_reason() -> None:
    api = FakeApi(ready=False)
    original = api.list_models

    def list_models(user_id: str) -> list:  # type: ignore[type-arg]
        for model_id, model in list(api.models.items()):
            api.models[model_id] = replace(model, status="MODEL_STATUS_FAILED")
            api.logs[model.deployment_id or ""] = ["pulling image", "CUDA out of memory"]
        return original(user_id)

    api.list_models = list_models  # type: ignore[method-assign]
    result, _ = run([desired("a")], api, wait=True)
    reason = result.outcomes[0].reason or ""
    assert result.failed
    assert (
        reason
        == "model became MODEL_STATUS_FAILED; recent logs: pulling image | CUDA out of memory"
    )


def test_plan_refresh_reads_no_logs(world: World) -> None:
    deployment = _fail(world)
    world.api.logs[deployment] = LINES
    run = pipeline.make_plan_run([str(world.manifests)], world.session(), prune=False)
    plan = reconcile.refresh_plan(run, world.session(), prune=False)
    assert [change.drift for change in plan.changes] == [DriftKind.FAILED]
    assert world.api.logs_calls == []  # a plan shows no logs: none are asked for


def test_the_user_comes_from_the_environment_when_the_model_names_none(world: World) -> None:
    deployment = _fail(world)
    model_id = world.recorded_id("llama")
    world.api.models[model_id] = replace(world.api.models[model_id], user_id=None)
    world.api.logs[deployment] = LINES
    # The fake lists a user's models by user id: list them all for this one pass.
    world.api.list_models = lambda user_id, **_: list(world.api.models.values())  # type: ignore[method-assign]
    report = world.run_pass(detect_only=True)
    assert report.drift[0].drift.logs == tuple(LINES[-5:])
    assert world.api.logs_calls == [(ENV["TENSORMESH_USER_ID"], deployment, 5)]
