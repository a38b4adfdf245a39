"""Apply: run a Plan through the API port, recording every outcome as it happens.

Each deploy is preceded by a durable intent and followed at once by a durable
entry, so a crash loses no ID. A deploy is sent at most once per entry and run
(a 429 refusal excepted, and only after a lookup by name shows nothing was
created); after an unclear outcome the model is looked up by `modelName` and
adopted only when it carries this state's mark (core/ownership.py): a model this
state does not own is never adopted, replaced or deleted. No printing here:
progress goes to a callback.

The parts: `types` (options, context, Recorder, errors), `entry` (the entry protocol),
`recovery` (open intents: resume, lookups by name, orphans), `wait` (waiting for UP)."""

from __future__ import annotations

import time
from collections.abc import Callable

from reconciler import workers
from reconciler.apply.entry import run_change
from reconciler.apply.recovery import orphan_intents, settle_orphan_intents
from reconciler.apply.shared import INTENTS_AHEAD, IntentsAhead, ListedByName, Shared
from reconciler.apply.types import ApplyContext, ApplyOptions, Progress, Recorder
from reconciler.apply.wait import wait_until_up
from reconciler.core.model import Change, Plan
from reconciler.core.outcome import ApplyResult, EntryOutcome, Outcome

__all__ = [
    "ApplyContext",
    "ApplyOptions",
    "Progress",
    "Recorder",
    "apply_plan",
    "orphan_intents",
    "quiet_outcome",
    "quiet_result",
    "settle_orphan_intents",
]


def apply_plan(
    plan: Plan,
    context: ApplyContext,
    options: ApplyOptions,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> ApplyResult:
    """Carry out every change that makes an API call; independent entries in parallel."""
    work = [change for change in plan.changes if change.runs_in_apply]
    outcomes: dict[str, EntryOutcome] = {
        change.name: quiet_outcome(change) for change in plan.changes if not change.runs_in_apply
    }
    intents = IntentsAhead(work, context.recorder, context.attempts, ahead=INTENTS_AHEAD)
    shared = Shared(intents, ListedByName(context.api))
    done = workers.run_all(
        work,
        lambda change: run_change(change, context, shared),
        threads=options.concurrency,
        name="apply",
    )
    outcomes.update((outcome.name, outcome) for outcome in done)
    for name in shared.intents.journaled():
        if outcomes[name].result is Outcome.NOT_STARTED:
            context.recorder.close_intent(name)  # journaled ahead, never sent: nothing to find
    context.recorder.flush()  # every returned ID on disk before anything reports it
    if options.wait and not context.stop.is_set():
        outcomes = wait_until_up(outcomes, context, options, sleep=sleep, clock=clock)
    ordered = tuple(outcomes[name] for name in sorted(outcomes))
    return ApplyResult(ordered, interrupted=context.stop.is_set())


def quiet_result(plan: Plan) -> ApplyResult:
    """The result of a plan that needs no API call."""
    return ApplyResult(tuple(quiet_outcome(change) for change in plan.changes))


def quiet_outcome(change: Change) -> EntryOutcome:
    if change.skipped:
        return EntryOutcome(
            change.name, change.action, Outcome.SKIPPED, change.model_id, None, change.reason_text
        )
    return EntryOutcome(change.name, change.action, Outcome.UNCHANGED, change.model_id)
