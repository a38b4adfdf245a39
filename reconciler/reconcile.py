"""Reconcile, wired in one place: refresh from the live API, detect drift, correct it, repeat.

Detection takes no lock; a pass takes the state lock only to correct, and re-reads the
state under it. Corrections go through pipeline.carry_out, as apply's plans do, so they
keep apply's guarantees (guard rails, cost check, intent first, lookup by name, IDs
durable). One session serves every pass: one API client, one whoami. Nothing here
prints: reports go to a callback, logs to the `reconciler.reconcile` logger.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from pathlib import Path

from reconciler import checkout as git_checkout
from reconciler import costing, failure_logs, heap, pipeline
from reconciler.adapters import manifest_files, metrics_file
from reconciler.apply import ApplyOptions
from reconciler.core import budget, correct, metrics, record
from reconciler.core.drift import Drift, detect_drift, known_models, live_statuses
from reconciler.core.errors import ReconcilerError
from reconciler.core.model import DesiredModel, DriftKind, LiveModel, Plan, State
from reconciler.core.outcome import ApplyResult
from reconciler.core.pass_report import PassReport
from reconciler.core.ports import ModelsApi
from reconciler.core.pricing import PriceList
from reconciler.core.spend import Spend, live_spend
from reconciler.session import Locked, Session, UserIds

log = logging.getLogger("reconciler.reconcile")
JITTER = 0.1  # ±10%: many reconcilers on one schedule must not hit the API in step


@dataclass(frozen=True, slots=True)
class UnmanagedPolicy:
    """Live models no manifest names: reported (drift, counted for exit 2) unless `report`
    is off or their name matches an ignore glob (`.tensormeshignore`, --ignore-unmanaged)."""

    report: bool = True
    ignore: tuple[str, ...] = ()

    def shows(self, name: str) -> bool:
        return self.report and not any(fnmatchcase(name, glob) for glob in self.ignore)

    @property
    def shows_every_name(self) -> bool:
        return self.report and not self.ignore


@dataclass(frozen=True, slots=True)
class PassOptions:
    prune: bool = False
    detect_only: bool = False
    heal_changed: bool = False
    scope: pipeline.Scope = field(default_factory=pipeline.Scope)
    unmanaged: UnmanagedPolicy = field(default_factory=UnmanagedPolicy)
    # Reconcile does not wait for MODEL_STATUS_UP by default: a long wait would hold the
    # lock for the whole boot, and the next pass sees a model that failed to start anyway.
    apply: ApplyOptions = field(default_factory=lambda: ApplyOptions(wait=False))
    lock_timeout: float = 60.0
    pull: bool = False  # `git pull --ff-only` before each pass
    # The git write-back of a pass that changed the state, run under the state lock.
    publish: pipeline.Publish | None = None
    cost: costing.CostOptions = field(default_factory=costing.CostOptions)
    # `--git`: fetch and check out the revision to reconcile (reconciler/git_source.py),
    # given the state path; replaces finding the checkout and --pull.
    source: Callable[[str], git_checkout.Checkout] | None = None
    # `--serve`: shown what each pass saw and did (the status page); must not raise.
    observe: Callable[[Refresh, ApplyResult | None], None] | None = None


@dataclass(frozen=True, slots=True)
class Refresh:
    """What one look at the world found: the inputs, the live models, drift and the plan."""

    desired: tuple[DesiredModel, ...]
    state: State
    live: tuple[LiveModel, ...]  # the unmanaged ones brief (LiveModel.brief)
    drift: tuple[Drift, ...]
    plan: Plan
    statuses: Mapping[str, str] = field(default_factory=dict)  # to write back: name -> live
    # The live spend this pass priced (each running model's hourly amount); None: not priced.
    spend: Spend | None = None


def fetch_live(
    api: ModelsApi, users: UserIds, desired: Sequence[DesiredModel], state: State
) -> tuple[LiveModel, ...]:
    """One GET /v1/models per distinct userId (normally one), deleted models included."""
    wanted = {users.for_model(model) for model in desired}
    wanted |= {entry.user_id or users.default() for entry in state.entries.values()}
    # Nothing managed yet: still list the caller's models, to report unmanaged ones.
    live: list[LiveModel] = []
    known = known_models(desired, state)  # the rest may come back brief: never read in full
    # Kept until the pass ends, and no cycles: 20,000 models are ~1.5 M objects, which the
    # collector would otherwise scan again and again while they are parsed (heap.py). Not
    # frozen: a freeze here would keep this pass's garbage (its clients) past the pass.
    with heap.paused_collection():
        for user in sorted(wanted or {users.default()}):
            live.extend(api.list_models(user, known=known))
    return tuple(live)


def with_failure_logs(
    api: ModelsApi,
    drift: Sequence[Drift],
    live: Sequence[LiveModel],
    *,
    user_id: str | None,
) -> tuple[Drift, ...]:
    """`drift` with each failed model's latest deployment logs: one call per failed model
    (`user_id` when the live model names no user).

    Logs only explain: a call that fails leaves that item without logs, never the pass.
    """
    failed = {item.live_model_id for item in drift if item.kind is DriftKind.FAILED}
    if not failed:
        return tuple(drift)  # the common pass: no index of a large account's live list
    by_id = {model.model_id: model for model in live if model.model_id in failed}
    out = []
    for item in drift:
        model = by_id.get(item.live_model_id or "")
        if item.kind is DriftKind.FAILED and model is not None and model.deployment_id:
            lines = failure_logs.read_failure_logs(api, model, user_id=user_id)
            item = replace(item, logs=lines)
        out.append(item)
    return tuple(out)


def refresh_against(
    desired: Sequence[DesiredModel],
    state: State,
    session: Session,
    *,
    prune: bool,
    options: PassOptions | None = None,
    logs: bool = True,
) -> Refresh:
    """Fetch live models, detect drift and fold it into the plan (pure after the fetch);
    with `logs`, failed drift also carries the deployments' latest log lines.

    The plan is made against the state with live statuses folded in: a model that came UP
    after an apply gave up waiting is no longer a failed deploy.
    """
    options = options or PassOptions(prune=prune)
    api = session.api
    live = fetch_live(api, session.users, desired, state)
    selection = options.scope.selection
    labels = {model.name: model.labels for model in desired}
    found = detect_drift(desired, state, live)
    # Every unmanaged model shown and every name selected (the default): nothing to
    # filter, and no three calls per model of a large account's 20,000 unmanaged ones.
    if options.unmanaged.shows_every_name and selection.everything:
        drift = found
    else:
        drift = tuple(
            item
            for item in found
            if (
                options.unmanaged.shows(item.name) and selection.selects_name(item.name)
                if item.kind is DriftKind.UNMANAGED
                else selection.selects(item.name, labels.get(item.name))
            )
        )
    if logs:
        drift = with_failure_logs(api, drift, live, user_id=session.settings.user_id)
    statuses = live_statuses(state, live)
    seen = state
    for name, status in statuses.items():
        seen = record.record_status(seen, name, status)
    plan = pipeline.plan_against(desired, seen, session, prune=prune, scope=options.scope)
    plan = correct.correction_plan(plan, drift, desired, heal_changed=options.heal_changed)
    unmanaged = tuple(
        (item.name, item.live_model_id or "") for item in drift if item.kind is DriftKind.UNMANAGED
    )
    plan = replace(plan, unmanaged=unmanaged)
    return Refresh(tuple(desired), state, live, drift, plan, statuses)


def refresh_plan(
    run: pipeline.PlanRun,
    session: Session,
    *,
    prune: bool,
    scope: pipeline.Scope | None = None,
    unmanaged: UnmanagedPolicy | None = None,
) -> Plan:
    """`plan --refresh`: the plan with live drift folded in; writes nothing (and reads no
    logs: a plan shows none)."""
    options = PassOptions(
        prune=prune,
        scope=scope or pipeline.Scope(),
        unmanaged=unmanaged or UnmanagedPolicy(),
    )
    return refresh_against(
        run.desired, run.state, session, prune=prune, options=options, logs=False
    ).plan


# Detection builds a live model and a drift per unmanaged model (20,000 in a large
# account), in no cycle: the collector would scan them twice for nothing. _correct
# resumes it: corrections make many calls, each leaving a cycle.
@heap.paused_collection()
def run_pass(
    number: int, paths: Sequence[str], session: Session, *, options: PassOptions
) -> PassReport:
    """One pass; a failure (bad manifests, API down, lock held, a stale or diverged clone)
    becomes the report's error."""
    seen: Refresh | None = None
    spend: Spend | None = None
    revision: str | None = None  # reported in --git mode: the revision this pass reconciles
    state_path, stop = session.settings.state_path, session.stop
    try:
        if options.source is not None:
            checkout: git_checkout.Checkout | None = options.source(state_path)
            revision = git_checkout.recorded_revision(checkout)
        else:
            checkout = git_checkout.find_checkout(paths, state_path)
        if options.pull:
            checkout = git_checkout.pull(checkout, state_path, lock_timeout=options.lock_timeout)
        with heap.building_long_lived():
            desired = manifest_files.load_desired(paths)
            state = session.read_state()
        # Before any call: a clone behind the state would undo newer work when correcting.
        git_checkout.check_fresh(checkout, state, command="reconcile")
        seen = refresh_against(desired, state, session, prune=options.prune, options=options)
        # One pricing read per pass: the live spend now, and the corrections' cost below.
        prices = costing.load_prices(options.cost, lambda: session.api)
        spend = live_spend(seen.state, seen.live, prices)
        if not _writes_statuses(options):
            # --pull without --push: a status written into the clone would stop the next
            # pull; statuses are refreshed by the pass that publishes (or has no git).
            seen = replace(seen, statuses={})
        if options.detect_only or stop.is_set() or not (seen.plan.has_work or seen.statuses):
            _observe(options, seen, None, spend)
            report = _report(number, seen, None, options, interrupted=stop.is_set())
            return replace(report, spend=spend, revision=revision)
        seen, result, published = _correct(
            seen, session, options=options, checkout=checkout, prices=prices
        )
        _observe(options, seen, result, spend)
        report = replace(
            _report(number, seen, result, options, interrupted=stop.is_set()),
            spend=spend,
            revision=revision,
        )
        # Corrections made and recorded, but not pushed: report both.
        return report if published is None else replace(report, error=published)
    except ReconcilerError as exc:
        if seen is None:
            return PassReport(
                number, detect_only=options.detect_only, error=str(exc), revision=revision
            )
        # Keep what detection found: the drift is still worth reporting.
        _observe(options, seen, None, spend)
        report = _report(number, seen, None, options, interrupted=stop.is_set())
        return replace(report, error=str(exc), spend=spend, revision=revision)


def _observe(
    options: PassOptions, seen: Refresh, result: ApplyResult | None, spend: Spend | None
) -> None:
    if options.observe is not None:
        # The spend travels with what the pass saw: the page never pairs rows and prices
        # of two different passes.
        options.observe(replace(seen, spend=spend), result)


def _writes_statuses(options: PassOptions) -> bool:
    return options.publish is not None or not options.pull


def _correct(
    seen: Refresh,
    session: Session,
    *,
    options: PassOptions,
    checkout: git_checkout.Checkout | None,
    prices: PriceList | str = costing.NO_SOURCE,
) -> tuple[Refresh, ApplyResult | None, str | None]:
    """Correct under the lock; also returns why publishing the state failed, if it did."""
    revision = git_checkout.recorded_revision(checkout)
    with heap.resumed_collection(), session.locked_state("reconcile") as locked:
        git_checkout.check_fresh(checkout, locked.state, command="reconcile")
        if not record.same_content(locked.state, seen.state):
            # Someone applied between our look and the lock: look again at what they wrote,
            # so we never "heal" an entry from a stale recorded model ID.
            log.info("state changed since detection; refreshing again under the lock")
            seen = refresh_against(
                seen.desired, locked.state, session, prune=options.prune, options=options
            )
            if not _writes_statuses(options):
                seen = replace(seen, statuses={})
        result = None
        if seen.plan.has_work and not session.stop.is_set():
            locked.store.note_run(plan=seen.plan, revision=revision)
            result = pipeline.carry_out(
                seen.plan,
                seen.desired,
                locked,
                session,
                scope=options.scope,
                options=options.apply,
                hooks=pipeline.Hooks(
                    progress=_log_progress,
                    heartbeat=lambda message: log.info("%s", message),
                    # Feasibility and --max-hourly-increase, before any call that changes anything.
                    vet=lambda plan: budget.check_budget(
                        costing.price_plan(plan, options.cost, prices),
                        options.cost.max_hourly_increase,
                    ),
                ),
            )
        ran = set() if result is None else {c.name for c in seen.plan.changes if c.runs_in_apply}
        _record_statuses(locked, seen.statuses, skip=ran)
        written = locked.store.commit(revision=revision)
        failure = None
        if written and options.publish is not None:
            try:
                # Live statuses alone change the state too: commit them, or the next
                # --pull meets a state file changed in the work tree.
                options.publish(result or ApplyResult(()))
            except ReconcilerError as exc:
                failure = str(exc)
    return seen, result, failure


def _record_statuses(locked: Locked, statuses: Mapping[str, str], *, skip: set[str]) -> None:
    """What the live API says now (`state list` must not show INIT long after UP); not for
    the entries a correction ran on: their recorded model may be a new one by now."""
    for name, status in statuses.items():
        if name not in skip:
            locked.recorder.record_status(name, status)


def _report(
    number: int,
    seen: Refresh,
    result: ApplyResult | None,
    options: PassOptions,
    *,
    interrupted: bool,
) -> PassReport:
    judged = correct.judge_corrections(
        seen.drift,
        seen.plan,
        result,
        desired=seen.desired,
        detect_only=options.detect_only,
        heal_changed=options.heal_changed,
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
            fields["reason"] = item.reason_text
        if item.drift.logs:
            fields["logs"] = " | ".join(item.drift.logs)
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
            "result": outcome.result.value,
            "modelId": outcome.model_id,
        }
        level = logging.ERROR if outcome.failed else logging.INFO
        if outcome.failed and outcome.reason:
            fields["error"] = outcome.reason
        log.log(
            level, "correction %s: %s", outcome.result.value, outcome.name, extra={"fields": fields}
        )
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
