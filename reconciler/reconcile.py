"""Reconcile, wired in one place: refresh from the live API, detect drift, correct it, repeat.

Detection takes no lock; a pass takes the state lock only to correct, and re-reads the
state under it. Corrections go through pipeline.execute, so they keep apply's guarantees
(intent first, lookup by name, IDs durable). Nothing here prints: reports go to a
callback, logs to the `reconciler.reconcile` logger.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from reconciler import heap, pipeline
from reconciler.adapters import manifest_files, metrics_file, state_store
from reconciler.apply import ApplyOptions, UserIds
from reconciler.core import correct, metrics, record
from reconciler.core.drift import Drift, detect_drift
from reconciler.core.errors import ReconcilerError
from reconciler.core.model import DesiredModel, LiveModel, Plan, State
from reconciler.core.outcome import ApplyResult
from reconciler.core.pass_report import PassReport
from reconciler.core.ports import ModelsApi

log = logging.getLogger("reconciler.reconcile")
JITTER = 0.1  # ±10%: many reconcilers on one schedule must not hit the API in step


@dataclass(frozen=True, slots=True)
class PassOptions:
    prune: bool = False
    detect_only: bool = False
    # Reconcile does not wait for MODEL_STATUS_UP by default: a long wait would hold the
    # lock for the whole boot, and the next pass sees a model that failed to start anyway.
    apply: ApplyOptions = field(default_factory=lambda: ApplyOptions(wait=False))
    lock_timeout: float = 60.0


@dataclass(frozen=True, slots=True)
class Refresh:
    """What one look at the world found: the inputs, the live models, drift and the plan."""

    desired: tuple[DesiredModel, ...]
    state: State
    live: tuple[LiveModel, ...]
    drift: tuple[Drift, ...]
    plan: Plan


def fetch_live(
    api: ModelsApi, desired: Sequence[DesiredModel], state: State, env: Mapping[str, str]
) -> tuple[LiveModel, ...]:
    """One GET /v1/models per distinct userId (normally one), deleted models included."""
    users = UserIds(api, env.get("TENSORMESH_USER_ID") or None)
    wanted = {users.for_model(model) for model in desired}
    wanted |= {entry.user_id or users.default() for entry in state.entries.values()}
    # Nothing managed yet: still list the caller's models, to report unmanaged ones.
    live: list[LiveModel] = []
    for user in sorted(wanted or {users.default()}):
        live.extend(api.list_models(user))
    return tuple(live)


def refresh_against(
    desired: Sequence[DesiredModel],
    state: State,
    *,
    prune: bool,
    connect: pipeline.ApiFactory,
    env: Mapping[str, str],
) -> Refresh:
    """Fetch live models, detect drift and fold it into the plan (pure after the fetch)."""
    with pipeline.connected(connect) as api:
        live = fetch_live(api, desired, state, env)
    drift = detect_drift(desired, state, live)
    plan = pipeline.plan_against(desired, state, prune=prune, env=env)
    return Refresh(
        tuple(desired), state, live, drift, correct.correction_plan(plan, drift, desired)
    )


def refresh_plan(
    run: pipeline.PlanRun, *, prune: bool, connect: pipeline.ApiFactory, env: Mapping[str, str]
) -> Plan:
    """`plan --refresh`: the plan with live drift folded in; writes nothing."""
    return refresh_against(run.desired, run.state, prune=prune, connect=connect, env=env).plan


def run_pass(
    number: int,
    paths: Sequence[str],
    state_path: str,
    *,
    options: PassOptions,
    connect: pipeline.ApiFactory,
    stop: threading.Event,
    env: Mapping[str, str],
) -> PassReport:
    """One pass; a failure (bad manifests, API down, lock held) becomes the report's error."""
    seen: Refresh | None = None
    try:
        with heap.building_long_lived():
            desired = manifest_files.load_desired(paths)
            state = state_store.read_state(state_path)
        seen = refresh_against(
            desired,
            state,
            prune=options.prune,
            connect=connect,
            env=env,
        )
        if options.detect_only or stop.is_set() or not seen.plan.has_work:
            return _report(number, seen, None, options, interrupted=stop.is_set())
        seen, result = _correct(
            seen, state_path, options=options, connect=connect, stop=stop, env=env
        )
        return _report(number, seen, result, options, interrupted=stop.is_set())
    except ReconcilerError as exc:
        if seen is None:
            return PassReport(number, detect_only=options.detect_only, error=str(exc))
        # Keep what detection found: the drift is still worth reporting.
        report = _report(number, seen, None, options, interrupted=stop.is_set())
        return replace(report, error=str(exc))


def _correct(
    seen: Refresh,
    state_path: str,
    *,
    options: PassOptions,
    connect: pipeline.ApiFactory,
    stop: threading.Event,
    env: Mapping[str, str],
) -> tuple[Refresh, ApplyResult | None]:
    with state_store.StateStore.open(
        state_path, command="reconcile", lock_timeout=options.lock_timeout
    ) as store:
        if not record.same_content(store.state, seen.state):
            # Someone applied between our look and the lock: look again at what they wrote,
            # so we never "heal" an entry from a stale recorded model ID.
            log.info("state changed since detection; refreshing again under the lock")
            seen = refresh_against(
                seen.desired, store.state, prune=options.prune, connect=connect, env=env
            )
        result = None
        if seen.plan.has_work and not stop.is_set():
            result = pipeline.execute(
                seen.plan,
                store,
                options=options.apply,
                connect=connect,
                stop=stop,
                progress=_log_progress,
                env=env,
            )
            store.note_run(plan=seen.plan, result=result)
        store.commit()
    return seen, result


def _report(
    number: int,
    seen: Refresh,
    result: ApplyResult | None,
    options: PassOptions,
    *,
    interrupted: bool,
) -> PassReport:
    judged = correct.judge_corrections(
        seen.drift, seen.plan, result, desired=seen.desired, detect_only=options.detect_only
    )
    return PassReport(
        number,
        judged,
        seen.plan,
        result,
        detect_only=options.detect_only,
        interrupted=interrupted,
    )


def run_passes(
    run_one: Callable[[int], PassReport],
    *,
    once: bool,
    interval: float,
    stop: threading.Event,
    emit: Callable[[PassReport], None],
    metrics_path: str | None = None,
    clock: Callable[[], float] = time.monotonic,
    now: Callable[[], float] = time.time,
    jitter: Callable[[float, float], float] = random.uniform,
) -> PassReport:
    """Run passes until `once` is done or `stop` is set; returns the last pass's report.

    A failed pass is logged and the loop goes on; stop (SIGTERM/SIGINT) ends the wait at once.
    """
    counters = _load_counters(metrics_path)
    number = 0
    while True:
        number += 1
        started = clock()
        report = run_one(number)
        duration = clock() - started
        _log_pass(report, duration)
        emit(report)
        counters = metrics.count_pass(counters, report, now=now(), duration=duration)
        _write_metrics(metrics_path, counters)
        if once or stop.is_set():
            return report
        heap.release_long_lived()  # this pass's objects are the collector's again
        delay = interval * jitter(1 - JITTER, 1 + JITTER)
        log.debug("next pass in %.1f s", delay, extra={"fields": {"pass": number + 1}})
        if stop.wait(delay):
            return report


def _load_counters(path: str | None) -> metrics.Counters:
    if path is None:
        return metrics.Counters()
    # Seed from the last file so counters keep rising across `--once` runs from cron.
    return metrics.parse_counters(metrics_file.read_metrics(path))


def _write_metrics(path: str | None, counters: metrics.Counters) -> None:
    if path is None:
        return
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        metrics_file.write_metrics(path, metrics.render_metrics(counters))
    except (ReconcilerError, OSError) as exc:
        # Metrics are secondary: a full disk must not stop the reconciler healing.
        log.warning("could not write metrics: %s", exc, extra={"fields": {"path": path}})


def _log_pass(report: PassReport, duration: float) -> None:
    base = {"pass": report.number}
    if report.error is not None:
        log.error("pass failed: %s", report.error, extra={"fields": base})
    for item in report.drift:
        fields = {
            **base,
            "name": item.drift.name,
            "kind": item.drift.kind.value,
            "modelId": item.drift.model_id or item.drift.live_model_id,
            "fields": ",".join(item.drift.fields),
            "corrected": item.corrected,
        }
        if item.reason:
            fields["reason"] = item.reason
        log.warning(
            "drift found: %s is %s",
            item.drift.name,
            item.drift.kind.value,
            extra={"fields": fields},
        )
    for outcome in report.corrections:
        fields = {
            **base,
            "name": outcome.name,
            "result": outcome.result,
            "modelId": outcome.model_id,
        }
        level = logging.ERROR if outcome.failed else logging.INFO
        if outcome.failed and outcome.reason:
            fields["error"] = outcome.reason
        log.log(level, "correction %s: %s", outcome.result, outcome.name, extra={"fields": fields})
    log.info(
        "pass %d finished: %s",
        report.number,
        "ok" if report.ok else "error",
        extra={
            "fields": {
                **base,
                "ok": report.ok,
                "drift": len(report.drift),
                "corrections": len(report.corrections),
                "durationSeconds": round(duration, 3),
            }
        },
    )


def _log_progress(name: str, message: str) -> None:
    log.info("%s: %s", name, message, extra={"fields": {"name": name}})
