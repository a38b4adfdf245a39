"""The reconcile pass and loop against the in-memory FakeApi, with a real state file."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from reconciler import pipeline, reconcile
from reconciler.adapters import state_store
from reconciler.apply import ApplyOptions
from reconciler.core.model import Action, DriftKind
from reconciler.core.outcome import Outcome
from reconciler.core.pass_report import PassReport
from reconciler.core.render_drift import pass_to_json, render_pass
from reconciler.session import Session, Settings
from tests.support.fake_api import USER, FakeApi

ENV = {"TENSORMESH_USER_ID": USER}
MANIFEST = """\
apiVersion: tensormesh.gitops/v1
kind: ModelDeployment
metadata:
  name: {name}
spec:
  modelPath: meta-llama/Llama-3.1-8B-Instruct
  gpuType: GPU_TYPE_H100
  gpuCount: 1
  infra:
    cloudProvider: CLOUD_PROVIDER_NEBIUS
{extra}"""


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.api = FakeApi()
        self.manifests = tmp_path / "manifests"
        self.manifests.mkdir()
        self.state_path = str(tmp_path / "state.json")
        self.stop = threading.Event()

    def write(self, name: str, extra: str = "") -> None:
        (self.manifests / f"{name}.yaml").write_text(MANIFEST.format(name=name, extra=extra))

    def apply(self) -> None:
        run = pipeline.run_apply(
            [str(self.manifests)],
            self.session(),
            prune=False,
            carry=pipeline.Carry(ApplyOptions(wait=False)),
        )
        assert not run.result.failed

    def run_pass(
        self, *, detect_only: bool = False, prune: bool = False, **more: Any
    ) -> PassReport:
        return reconcile.run_pass(
            1,
            [str(self.manifests)],
            self.session(),
            options=reconcile.PassOptions(prune=prune, detect_only=detect_only, **more),
        )

    def session(self) -> Session:
        settings = Settings.resolve(ENV, state_path=self.state_path)
        return Session(settings, api=self.api, stop=self.stop)

    def recorded_id(self, name: str) -> str:
        return state_store.read_state(self.state_path).entries[name].model_id

    def state_bytes(self) -> bytes:
        return Path(self.state_path).read_bytes()


@pytest.fixture
def world(tmp_path: Path) -> World:
    w = World(tmp_path)
    w.write("llama")
    w.apply()
    return w


def _kinds(report: PassReport) -> list[tuple[str, str]]:
    return [(item.drift.name, item.drift.kind.value) for item in report.drift]


def test_unchanged_world_has_no_drift_and_one_list_call(world: World) -> None:
    world.api.list_calls = 0
    report = world.run_pass()
    assert report.drift == ()
    assert report.ok and not report.found_drift
    assert report.exit_code(detailed_exitcode=True) == 0
    assert world.api.list_calls == 1


def test_detect_only_reports_missing_and_changes_nothing(world: World) -> None:
    world.api.delete_model(USER, world.recorded_id("llama"))
    before, deploys = world.state_bytes(), len(world.api.deploy_calls)
    report = world.run_pass(detect_only=True)
    assert _kinds(report) == [("llama", "missing")]
    assert report.drift[0].corrected is False
    assert report.exit_code(detailed_exitcode=True) == 2
    assert world.state_bytes() == before
    assert len(world.api.deploy_calls) == deploys


def test_missing_is_redeployed_and_the_new_id_recorded(world: World) -> None:
    old = world.recorded_id("llama")
    world.api.delete_model(USER, old)
    report = world.run_pass()
    assert _kinds(report) == [("llama", "missing")]
    assert report.drift[0].corrected
    (correction,) = report.corrections
    assert correction.result == Outcome.REPLACED
    live = world.api.live_named("llama")
    assert live is not None and live.model_id != old
    assert world.recorded_id("llama") == live.model_id
    assert world.run_pass().drift == ()


def test_failed_model_is_replaced(world: World) -> None:
    old = world.recorded_id("llama")
    world.api.models[old] = replace(world.api.models[old], status="MODEL_STATUS_FAILED")
    report = world.run_pass()
    assert _kinds(report) == [("llama", "failed")]
    assert old in world.api.delete_calls
    assert world.recorded_id("llama") != old


def test_changed_field_is_reported_not_replaced_by_default(world: World) -> None:
    """On-call scaled the model by hand: the default reports it with values, never redeploys."""
    old = world.recorded_id("llama")
    model = world.api.models[old]
    world.api.models[old] = replace(model, spec={**model.spec, "gpuCount": 4})
    report = world.run_pass()
    (item,) = pass_to_json(report)["drift"]
    assert item["kind"] == "changed" and not item["corrected"]
    assert item["fields"] == [{"field": "gpuCount", "live": 4, "wanted": 1}]
    assert "--heal-changed" in item["reason"]
    assert world.api.delete_calls == [] and world.recorded_id("llama") == old
    assert report.exit_code(detailed_exitcode=True) == 2
    assert "gpuCount: 4 live, wanted 1" in render_pass(report)


@pytest.mark.parametrize("how", ["flag", "manifest"])
def test_changed_field_is_replaced_with_heal_changed_or_self_heal_true(
    world: World, how: str
) -> None:
    old = world.recorded_id("llama")
    model = world.api.models[old]
    world.api.models[old] = replace(model, spec={**model.spec, "gpuCount": 4})
    if how == "manifest":
        world.write("llama", "reconcile:\n  selfHeal: true\n")
    report = world.run_pass(heal_changed=how == "flag")
    assert [(i.drift.kind, i.drift.fields) for i in report.drift] == [
        (DriftKind.CHANGED, ("gpuCount",))
    ]
    (change,) = report.plan.changes
    assert (change.action, change.field_names, change.drift) == (
        Action.REPLACE,
        ("gpuCount",),
        DriftKind.CHANGED,
    )
    live = world.api.live_named("llama")
    assert live is not None and live.spec["gpuCount"] == 1


def test_unmanaged_model_is_reported_and_left_alone(world: World) -> None:
    world.api.models["hand-1"] = replace(
        world.api.models[world.recorded_id("llama")], model_id="hand-1", model_name="by-hand"
    )
    report = world.run_pass()
    assert _kinds(report) == [("by-hand", "unmanaged")]
    assert world.api.delete_calls == []
    assert "by-hand" in world.api.live_names()
    assert (
        pass_to_json(report)["drift"][0]["reason"] == "unmanaged models are reported, never deleted"
    )


def test_self_heal_off_is_reported_not_corrected(world: World) -> None:
    world.write("llama", "reconcile:\n  selfHeal: false\n")
    world.api.delete_model(USER, world.recorded_id("llama"))
    before = world.state_bytes()
    report = world.run_pass()
    item = pass_to_json(report)["drift"][0]
    assert (item["kind"], item["corrected"], item["reason"]) == (
        "missing",
        False,
        "selfHeal is off",
    )
    assert world.api.live_named("llama") is None
    assert world.state_bytes() == before


def test_entry_removed_from_manifests_is_neither_redeployed_nor_deleted(world: World) -> None:
    world.write("other")
    (world.manifests / "llama.yaml").unlink()
    world.api.delete_model(USER, world.recorded_id("llama"))
    report = world.run_pass()
    assert ("llama", "missing") in _kinds(report)
    assert world.api.live_named("llama") is None
    assert "llama" in state_store.read_state(world.state_path).entries
    assert world.api.live_named("other") is not None  # git-side create still applied


def test_bad_manifests_fail_the_pass_with_a_message(world: World) -> None:
    (world.manifests / "broken.yaml").write_text("apiVersion: nope\n")
    report = world.run_pass()
    assert report.error and "broken.yaml" in report.error
    assert report.exit_code(detailed_exitcode=False) == 1


def test_state_changed_between_detection_and_lock_is_looked_at_again(world: World) -> None:
    """Someone applies between our look and the lock: we must not heal from a stale ID."""
    old = world.recorded_id("llama")
    world.api.delete_model(USER, old)
    calls = {"n": 0}
    real_list = world.api.list_models

    def list_then_apply(user: str, **options: Any) -> list:  # type: ignore[type-arg]
        calls["n"] += 1
        models = real_list(user, **options)
        if calls["n"] == 1:
            world.run_pass()  # another reconciler heals it first and records the new ID
        return models

    world.api.list_models = list_then_apply  # type: ignore[method-assign]
    report = world.run_pass()
    assert calls["n"] == 3  # ours, the other one's, ours again under the lock
    assert report.drift == ()  # re-detected under the lock: nothing left to heal
    assert len([r for r in world.api.deploy_calls if r.model_name == "llama"]) == 2


def test_text_report_is_a_short_table(world: World) -> None:
    world.api.delete_model(USER, world.recorded_id("llama"))
    text = render_pass(world.run_pass(detect_only=True))
    assert text.startswith("Pass 1: 1 drift found (detect only, nothing changed).")
    assert "llama" in text and "missing" in text


def test_refresh_plan_folds_drift_into_the_plan(world: World) -> None:
    world.api.delete_model(USER, world.recorded_id("llama"))
    run = pipeline.make_plan_run([str(world.manifests)], world.session(), prune=False)
    before = world.state_bytes()
    plan = reconcile.refresh_plan(run, world.session(), prune=False)
    (change,) = plan.changes
    assert (change.action, change.drift) == (Action.REPLACE, DriftKind.MISSING)
    assert world.state_bytes() == before


# -- the loop ---------------------------------------------------------------


def test_loop_runs_passes_until_stopped_and_survives_failures(tmp_path: Path) -> None:
    delays: list[float] = []
    seen: list[PassReport] = []

    class RecordingStop(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            delays.append(timeout or 0.0)
            return self.is_set()

    stop = RecordingStop()

    def run_one(number: int) -> PassReport:
        if number == 3:
            stop.set()  # as SIGTERM would, in the middle of pass 3
        return PassReport(number, error="API down" if number == 1 else None)

    metrics_path = tmp_path / "m" / "reconciler.prom"
    last = reconcile.run_passes(
        run_one,
        once=False,
        interval=10.0,
        stop=stop,
        emit=seen.append,
        metrics_path=str(metrics_path),
        jitter=lambda low, high: high,
    )
    # The failed first pass did not end the loop; the stop ended it right after pass 3.
    assert [r.number for r in seen] == [1, 2, 3] and last.number == 3
    assert delays == [pytest.approx(11.0)] * 2
    text = metrics_path.read_text()
    assert 'tensormesh_reconciler_passes_total{result="error"} 1' in text
    assert 'tensormesh_reconciler_passes_total{result="ok"} 2' in text


def test_once_runs_exactly_one_pass() -> None:
    seen: list[PassReport] = []
    last = reconcile.run_passes(
        PassReport, once=True, interval=1.0, stop=threading.Event(), emit=seen.append
    )
    assert [r.number for r in seen] == [1] and last.number == 1


def test_metrics_counters_continue_across_runs(tmp_path: Path) -> None:
    path = str(tmp_path / "reconciler.prom")
    for _ in range(2):
        reconcile.run_passes(
            PassReport,
            once=True,
            interval=1.0,
            stop=threading.Event(),
            emit=lambda r: None,
            metrics_path=path,
        )
    assert 'tensormesh_reconciler_passes_total{result="ok"} 2' in Path(path).read_text()


# -- second week ------------------------------------------------------------------


def test_max_destroy_refuses_a_pass_before_any_call(world: World) -> None:
    old = world.recorded_id("llama")
    world.api.models[old] = replace(world.api.models[old], status="MODEL_STATUS_FAILED")
    before = world.state_bytes()
    scope = pipeline.Scope(max_destroy=0)
    report = world.run_pass(scope=scope)
    assert report.error is not None and "--max-destroy 0" in report.error
    assert report.exit_code(detailed_exitcode=False) == 1
    assert world.api.delete_calls == [] and world.state_bytes() == before


def test_ignored_unmanaged_models_are_neither_listed_nor_counted(world: World) -> None:
    world.api.models["hand-1"] = replace(
        world.api.models[world.recorded_id("llama")], model_id="hand-1", model_name="team-b-x"
    )
    policy = reconcile.UnmanagedPolicy(ignore=("team-b-*",))
    report = world.run_pass(unmanaged=policy)
    assert report.drift == () and report.exit_code(detailed_exitcode=True) == 0
    report = world.run_pass(unmanaged=reconcile.UnmanagedPolicy(report=False))
    assert report.drift == ()


def test_a_pass_records_live_status_and_lifts_a_timed_out_deploy(world: World) -> None:
    from reconciler.adapters import state_file
    from reconciler.core import record as records

    state = state_store.read_state(world.state_path)
    stale = records.record_status(state, "llama", "MODEL_STATUS_INIT")
    state_file.save_state(world.state_path, records.record_failure(stale, "llama", "not UP in 1s"))
    report = world.run_pass()
    assert report.drift == () and report.ok
    entry = state_store.read_state(world.state_path).entries["llama"]
    assert (entry.status, entry.failed) == ("MODEL_STATUS_UP", None)
    assert world.api.delete_calls == []  # came up after all: no needless replace


def test_excluded_entries_are_not_healed(world: World) -> None:
    from reconciler.core.selection import Selection

    world.api.delete_model(USER, world.recorded_id("llama"))
    report = world.run_pass(scope=pipeline.Scope(selection=Selection(excludes=("llama",))))
    assert report.drift == () and report.plan.excluded == 1
    assert world.api.live_named("llama") is None


def test_a_pass_that_only_refreshed_statuses_publishes_the_state(world: World) -> None:
    """With --push, a status write-back is committed too: an uncommitted state file would
    stop the next --pull."""
    from reconciler.adapters import state_file
    from reconciler.core import record as records
    from reconciler.core.outcome import ApplyResult

    state = state_store.read_state(world.state_path)
    state_file.save_state(world.state_path, records.record_status(state, "llama", "X_INIT"))
    published: list[ApplyResult] = []
    report = world.run_pass(publish=published.append)
    assert report.ok and report.drift == ()
    assert published == [ApplyResult(())]
    assert state_store.read_state(world.state_path).entries["llama"].status == "MODEL_STATUS_UP"
    assert world.run_pass(publish=published.append).ok
    assert len(published) == 1  # nothing changed the second time: nothing to publish


@pytest.mark.parametrize(
    ("policy", "every"),
    [
        (reconcile.UnmanagedPolicy(), True),
        (reconcile.UnmanagedPolicy(ignore=("team-b-*",)), False),
        (reconcile.UnmanagedPolicy(report=False), False),
    ],
)
def test_only_a_policy_without_ignores_shows_every_unmanaged_name(
    policy: reconcile.UnmanagedPolicy, every: bool
) -> None:
    # A pass skips filtering unmanaged drift only when this holds (the 20,000-model case).
    assert policy.shows_every_name is every
    assert every or not policy.shows("team-b-1")
