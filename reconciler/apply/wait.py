"""Waiting for MODEL_STATUS_UP after the deploys: one list call per round for all entries,
a failed model's latest logs in its reason."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from reconciler import failure_logs
from reconciler.apply.types import ApplyContext, ApplyOptions
from reconciler.core import drift
from reconciler.core.errors import ApiError
from reconciler.core.model import STATUS_DELETED, STATUS_UP, LiveModel
from reconciler.core.outcome import EntryOutcome, Outcome


def wait_until_up(
    outcomes: dict[str, EntryOutcome],
    context: ApplyContext,
    options: ApplyOptions,
    *,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> dict[str, EntryOutcome]:
    """Poll with one list call per round (not one call per entry) until all are UP."""
    pending = {
        name: outcome
        for name, outcome in outcomes.items()
        if outcome.result.deployed and outcome.status != STATUS_UP
    }
    started = clock()
    deadline = started + options.wait_timeout
    interval = options.poll_interval
    last_seen: dict[str, LiveModel] = {}
    last_beat = started
    while pending and not context.stop.is_set():
        if clock() - last_beat >= options.heartbeat_interval:
            last_beat = clock()
            names = ", ".join(sorted(pending)[:5]) + (" …" if len(pending) > 5 else "")
            context.heartbeat(
                f"still waiting for {len(pending)} model(s) to be {STATUS_UP} after "
                f"{last_beat - started:.0f}s (of --wait-timeout {options.wait_timeout:g}s): {names}"
            )
        users = {outcome.user_id or context.users.default() for outcome in pending.values()}
        live_by_id: dict[str, LiveModel] = {}
        try:
            for user in users:
                live_by_id.update({m.model_id: m for m in context.api.list_models(user)})
        except ApiError as exc:
            for name, outcome in pending.items():
                outcomes[name] = replace(
                    outcome, result=Outcome.FAILED, reason=f"deployed, but waiting failed: {exc}"
                )
            return outcomes
        for name, outcome in list(pending.items()):
            live = live_by_id.get(outcome.model_id or "")
            if live is None:
                continue
            last_seen[name] = live
            if live.status == STATUS_UP:
                context.recorder.record_status(name, STATUS_UP)
                context.progress(name, "up")
                outcomes[name] = replace(outcome, status=STATUS_UP)
                del pending[name]
            elif _is_failed(live.status):
                context.recorder.record_status(name, live.status)
                reason = f"model became {live.status}{_why_failed(context, live, outcome)}"
                # Remembered: the next plan replaces it, so a re-run CI job is not green.
                context.recorder.record_failure(name, reason)
                outcomes[name] = replace(
                    outcome, result=Outcome.FAILED, status=live.status, reason=reason
                )
                del pending[name]
        if not pending:
            break
        if clock() + interval > deadline:
            for name, outcome in pending.items():
                seen = last_seen.get(name)
                reason = f"not {STATUS_UP} within {options.wait_timeout:g}s" + (
                    _events(seen) if seen else ""
                )
                context.recorder.record_failure(name, reason)
                outcomes[name] = replace(outcome, result=Outcome.FAILED, reason=reason)
            return outcomes
        sleep(interval)
        interval = min(interval * 1.5, options.max_poll_interval)
    return outcomes


def _is_failed(status: str) -> bool:
    return status == STATUS_DELETED or drift.is_failed_status(status)


def _why_failed(context: ApplyContext, live: LiveModel, outcome: EntryOutcome) -> str:
    """The deployment's latest log lines; its events when the API has no logs."""
    if live.status == STATUS_DELETED:
        return _events(live)
    user = outcome.user_id or context.users.default()
    lines = failure_logs.read_failure_logs(context.api, live, user_id=user)
    return failure_logs.describe(lines) if lines else _events(live)


def _events(live: LiveModel) -> str:
    recent = [event.log for event in live.events[-3:] if event.log]
    return f"; recent events: {' | '.join(recent)}" if recent else ""
