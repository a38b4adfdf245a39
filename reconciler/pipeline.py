"""One run, wired in one readable place: load, validate, plan, [carry out, record, save].

The commands call these functions with their session (reconciler/session.py); everything
that decides is in `core`, everything that touches the outside world is in `adapters`.
Nothing here prints.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from reconciler import checkout as git_checkout
from reconciler import heap
from reconciler.adapters import manifest_files, secrets, state_store
from reconciler.apply import (
    ApplyContext,
    ApplyOptions,
    Progress,
    apply_plan,
    orphan_intents,
    quiet_result,
    settle_orphan_intents,
)
from reconciler.core import guard
from reconciler.core import plan as planning
from reconciler.core.errors import GuardError
from reconciler.core.model import DesiredModel, Plan, State
from reconciler.core.outcome import ApplyResult
from reconciler.core.selection import Selection
from reconciler.session import Locked, Session

# Runs after a changed state was saved, while the lock is still held: the git write-back.
Publish = Callable[[ApplyResult], None]


@dataclass(frozen=True, slots=True)
class Scope:
    """What a run may touch and how far: selection, forced replaces, guard rails.

    `approve` is asked (on a terminal) before a plan that deletes or replaces a running
    model; it returns False to stop with nothing called.
    """

    selection: Selection = field(default_factory=Selection)
    force_replace: frozenset[str] = frozenset()
    max_destroy: int | None = None
    approve: Callable[[Plan], bool] = lambda plan: True


def check_guards(plan: Plan, desired: Sequence[DesiredModel], scope: Scope) -> None:
    """Refuse, before any API call, a plan the guard rails or the user do not allow."""
    check_guard_rails(plan, desired, scope)
    check_approval(plan, scope)


def check_guard_rails(plan: Plan, desired: Sequence[DesiredModel], scope: Scope) -> None:
    """--max-destroy and `protect`: decided from the plan alone, before any call at all
    (apply's pricing read included)."""
    refusal = guard.refuse_plan(plan, desired, max_destroy=scope.max_destroy)
    if refusal is not None:
        raise GuardError(refusal)


def check_approval(plan: Plan, scope: Scope) -> None:
    """The question on a terminal, asked once the plan has been shown."""
    if plan.destructive and not scope.approve(plan):
        raise GuardError("not approved: nothing was changed")


def check_names(desired: Sequence[DesiredModel], state: State, scope: Scope) -> None:
    unknown = planning.unknown_names(desired, state, scope.force_replace)
    if unknown:
        from reconciler.core.errors import UsageError

        raise UsageError(
            f"--replace {', '.join(unknown)}: no manifest and no recorded entry has that name"
        )


@dataclass(frozen=True, slots=True)
class PlanRun:
    desired: tuple[DesiredModel, ...]
    state: State
    plan: Plan


@dataclass(frozen=True, slots=True)
class ApplyRun:
    plan_run: PlanRun
    result: ApplyResult
    state_written: bool


def plan_against(
    desired: Sequence[DesiredModel],
    state: State,
    session: Session,
    *,
    prune: bool,
    scope: Scope | None = None,
) -> Plan:
    scope = scope or Scope()
    fingerprints = secrets.fingerprint_available(desired, state.salt, session.settings.environ)
    return planning.make_plan(
        desired,
        state,
        prune=prune,
        fingerprints=fingerprints,
        force_replace=scope.force_replace,
        selection=scope.selection,
    )


def make_plan_run(
    paths: Sequence[str], session: Session, *, prune: bool, scope: Scope | None = None
) -> PlanRun:
    """Read-only: manifests and state in, plan out. Takes no lock."""
    scope = scope or Scope()
    with heap.building_long_lived():
        desired = manifest_files.load_desired(paths)
        state = session.read_state()
    check_names(desired, state, scope)
    plan = plan_against(desired, state, session, prune=prune, scope=scope)
    return PlanRun(desired, state, plan)


def preflight(run: PlanRun, session: Session) -> list[str]:
    """What `plan` can tell before an apply would fail or surprise: warnings, not errors."""
    from pathlib import Path

    state_path = session.settings.state_path
    warnings = []
    if "://" not in state_path and not Path(state_path).exists():
        warnings.append(
            f"state file {state_path} does not exist: every entry plans as a create (the "
            "first apply writes it); check --state if you expected recorded entries"
        )
    names = {change.name for change in run.plan.changes}  # the selected entries only
    selected = [m for m in run.desired if m.name in names]
    warnings.extend(secrets.unresolved(selected, session.settings.environ))
    return warnings


@dataclass(frozen=True, slots=True)
class Hooks:
    """What the command shows and checks around the calls; none of them may be skipped.

    `vet` sees the plan before any call that changes anything and may refuse it by
    raising (the cost check); `show_plan` shows it before the question and the calls."""

    progress: Progress = lambda name, message: None
    heartbeat: Callable[[str], None] = lambda message: None  # while waiting for UP
    show_plan: Callable[[Plan], None] = lambda plan: None
    vet: Callable[[Plan], None] = lambda plan: None


@dataclass(frozen=True, slots=True)
class Carry:
    """How `apply` and `apply --plan` carry their plan out.

    `checkout`: the manifests' git checkout, refused when stale and recorded as the
    revision. `publish` runs after the save, still under the lock."""

    options: ApplyOptions = field(default_factory=ApplyOptions)
    scope: Scope = field(default_factory=Scope)
    hooks: Hooks = field(default_factory=Hooks)
    checkout: git_checkout.Checkout | None = None
    publish: Publish | None = None


def run_apply(
    paths: Sequence[str], session: Session, *, prune: bool, carry: Carry | None = None
) -> ApplyRun:
    """Plan under the state lock, then carry it out, recording each outcome durably."""
    carry = carry or Carry()
    # Bad manifests fail before the lock is taken or anything is called.
    with heap.building_long_lived():
        desired = manifest_files.load_desired(paths)
    with session.locked_state("apply") as locked:
        git_checkout.check_fresh(carry.checkout, locked.state, command="apply")
        check_names(desired, locked.state, carry.scope)
        _settle_orphans(desired, locked, session, carry.scope)
        state = locked.state
        plan = plan_against(desired, state, session, prune=prune, scope=carry.scope)
        # The audit history (PostgreSQL) says what was meant, even after a crash.
        revision = git_checkout.recorded_revision(carry.checkout)
        locked.store.note_run(plan=plan, manifests=tuple(paths), revision=revision)
        result = carry_out(
            plan,
            desired,
            locked,
            session,
            scope=carry.scope,
            options=carry.options,
            hooks=carry.hooks,
        )
        return ApplyRun(PlanRun(desired, state, plan), result, _save(locked.store, result, carry))


def run_saved_plan(plan_path: str, session: Session, carry: Carry | None = None) -> ApplyRun:
    """`apply --plan`: carry out exactly a saved plan, or refuse it as stale before any call.

    The manifests are not read again; secrets are (they were never saved).
    """
    from reconciler.adapters import plan_file
    from reconciler.core import saved_plan
    from reconciler.core.errors import StalePlanError

    carry = carry or Carry()
    # A corrupt plan file fails before the lock is taken or anything is called.
    saved = plan_file.read_plan_file(plan_path)
    with session.locked_state("apply") as locked:
        git_checkout.check_fresh(carry.checkout, locked.state, command="apply")
        # Checked under the lock: nobody can move the state between this check and the calls.
        why = saved_plan.describe_staleness(saved, locked.state)
        if why is not None:
            raise StalePlanError(
                f"saved plan {plan_path} is stale: {why}. Nothing was applied; make a new plan "
                "with `tensormesh-reconciler plan PATH... --out FILE` and apply that"
            )
        plan, state = saved.plan, locked.state
        revision = git_checkout.recorded_revision(carry.checkout)
        locked.store.note_run(plan=plan, revision=revision)
        result = carry_out(
            plan,
            saved.desired,
            locked,
            session,
            scope=carry.scope,
            options=carry.options,
            hooks=carry.hooks,
        )
        return ApplyRun(
            PlanRun(saved.desired, state, plan), result, _save(locked.store, result, carry)
        )


def carry_out(
    plan: Plan,
    desired: Sequence[DesiredModel],
    locked: Locked,
    session: Session,
    *,
    scope: Scope,
    options: ApplyOptions,
    hooks: Hooks,
) -> ApplyResult:
    """The one way a plan is carried out under the lock, for `apply`, `apply --plan` and
    reconcile's corrections: guard rails, cost check, the plan shown, the question, then
    the calls; the result goes into the audit history."""
    if not plan.has_work:
        return quiet_result(plan)
    check_guard_rails(plan, desired, scope)
    hooks.vet(plan)
    hooks.show_plan(plan)  # what is about to happen, before the first call
    check_approval(plan, scope)
    # Secrets are resolved all or nothing, before any call.
    needed = [c.desired for c in plan.changes if c.runs_in_apply and c.desired is not None]
    secret_values = secrets.resolve_secrets(needed, session.settings.environ)
    # Building the client makes no call: a bad token or URL is refused before any write.
    api = session.api
    # The lineage (every create's mark) and the salt (every fingerprint) must survive a kill
    # or a full disk at any later point: on a first apply they exist only in memory so far.
    locked.store.ensure_on_disk()
    state = locked.state
    if any(c.desired is None or c.desired.user_id is None for c in plan.changes):
        # One whoami up front: a wrong token or a dead API stops the run before any entry
        # starts, with one message instead of one failure per entry.
        session.users.default()
    context = ApplyContext(
        api=api,
        recorder=locked.recorder,
        users=session.users,
        secrets=secret_values,
        salt=state.salt,
        attempts={name: intent.attempt for name, intent in state.intents.items()},
        stop=session.stop,
        progress=hooks.progress,
        lineage=state.lineage,
        open_intents=dict(state.intents),
        heartbeat=hooks.heartbeat,
    )
    # Waiting for MODEL_STATUS_UP sleeps on the stop flag: a signal ends the wait at once.
    result = apply_plan(plan, context, options, sleep=lambda seconds: _nap(session, seconds))
    result = _point_at_fields(result, plan)
    locked.store.note_run(result=result)
    return result


def _nap(session: Session, seconds: float) -> None:
    session.stop.wait(seconds)


def _settle_orphans(
    desired: Sequence[DesiredModel], locked: Locked, session: Session, scope: Scope
) -> None:
    """Resolve intents of removed manifests before planning (see settle_orphan_intents)."""
    wanted = {model.name for model in desired}
    if not any(scope.selection.selects(n, None) for n in orphan_intents(locked.state, wanted)):
        return
    api = session.api  # a bad token or URL is refused before anything is written
    locked.store.ensure_on_disk()
    settle_orphan_intents(locked.state, wanted, api, locked.recorder, session.users)


def _save(store: state_store.StateStore, result: ApplyResult, carry: Carry) -> bool:
    """Fold the journal into the state file, then publish it before the lock is released:
    a write-back after the release raced other writers of this clone's state."""
    written = store.commit(revision=git_checkout.recorded_revision(carry.checkout))
    if written and carry.publish is not None:
        carry.publish(result)
    return written


# The API's 400 message names the field first, e.g. "gpuCount: must be an integer >= 1".
_FIELD_MESSAGE = re.compile(r"with HTTP 400: ([A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z][A-Za-z0-9]*)*):")


def _point_at_fields(result: ApplyResult, plan: Plan) -> ApplyResult:
    """A 400 about a field of the request: say where the manifest writes that field."""
    desired = {c.name: c.desired for c in plan.changes if c.desired is not None}
    outcomes = []
    for outcome in result.outcomes:
        match = _FIELD_MESSAGE.search(outcome.reason or "") if outcome.failed else None
        model = desired.get(outcome.name)
        where = (
            None
            if match is None or model is None
            else manifest_files.locate_field(model, match.group(1))
        )
        if where is not None:
            outcome = replace(outcome, reason=f"{where}: {outcome.reason}")
        outcomes.append(outcome)
    return replace(result, outcomes=tuple(outcomes))


def save_plan(run: PlanRun, out_path: str, *, prune: bool) -> None:
    """`plan --out`: write the plan with the state serial/lineage and manifests it came from."""
    from reconciler.adapters import plan_file
    from reconciler.core import saved_plan
    from reconciler.core.desired import manifests_digest

    saved = saved_plan.make_saved_plan(
        run.plan, run.state, manifests_digest=manifests_digest(run.desired), prune=prune
    )
    plan_file.write_plan_file(out_path, saved)
