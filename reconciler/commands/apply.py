"""`apply`: carry the plan out and write model IDs back to the state as each call returns.

`apply --dry-run` is exactly `plan`. SIGINT/SIGTERM stop new calls, let the ones in
flight finish and be recorded, release the lock and exit 1 with a summary.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click
from click.core import ParameterSource

from reconciler.commands import costs, output, signals
from reconciler.commands.options import (
    carry_out_options,
    guard_options,
    output_option,
    plan_options,
    refresh_option,
)
from reconciler.commands.plan import run_plan
from reconciler.core.errors import GitError
from reconciler.core.exit_codes import EXIT_ERROR

if TYPE_CHECKING:
    from reconciler.core.cost import PlanCost
    from reconciler.core.model import Plan
    from reconciler.core.outcome import ApplyResult
    from reconciler.costing import CostOptions
    from reconciler.writeback import WritebackOptions, WritebackResult


# Flags `apply --dry-run` (exactly `plan`, which makes no call) cannot honour.
_CARRY_OUT_ONLY = (
    "concurrency",
    "no_wait",
    "wait_timeout",
    "lock_timeout",
    "auto_approve",
    "max_destroy",
    "min_balance_hours",
    "commit",
    "push",
    "commit_message_prefix",
    "no_skip_ci",
)
# Flags only `apply --dry-run` honours (as `plan --refresh` does).
_DRY_RUN_ONLY = ("refresh", "unmanaged", "ignore_unmanaged")


@click.command("apply")
@plan_options
@output_option("text", "json")
@refresh_option
@carry_out_options
@guard_options
@costs.cost_options
@click.option("--dry-run", is_flag=True, help="Exactly `plan`: same output, same exit codes.")
@click.option(
    "--plan",
    "plan_path",
    type=click.Path(dir_okay=False),
    metavar="PLANFILE",
    help="Carry out exactly this saved plan (from `plan --out`); no PATH needed.",
)
@click.option("--commit", is_flag=True, help="Commit the state file (only it) if it changed.")
@click.option("--push", is_flag=True, help="Push the state commit (implies --commit).")
@click.option(
    "--commit-message-prefix",
    default="tensormesh:",
    show_default=True,
    help="Start of the state commit's subject.",
)
@click.option("--no-skip-ci", is_flag=True, help="Leave `[skip ci]` out of the commit subject.")
def command(
    *,
    paths: tuple[str, ...],
    state_path: str,
    api_url: str | None,
    output_format: str,
    detailed_exitcode: bool,
    prune: bool,
    force_replace: tuple[str, ...],
    targets: tuple[str, ...],
    excludes: tuple[str, ...],
    selectors: tuple[str, ...],
    refresh: bool,
    unmanaged: str,
    ignore_unmanaged: tuple[str, ...],
    concurrency: int,
    no_wait: bool,
    wait_timeout: float,
    lock_timeout: float,
    auto_approve: bool,
    max_destroy: int | None,
    pricing_file: str | None,
    allow_unpriced: bool,
    max_hourly_increase: str | None,
    min_balance_hours: float,
    dry_run: bool,
    plan_path: str | None,
    commit: bool,
    push: bool,
    commit_message_prefix: str,
    no_skip_ci: bool,
) -> int:
    """Carry the plan out and write the model IDs back to the state."""
    from reconciler.writeback import WritebackOptions

    if dry_run:
        if plan_path:
            raise click.UsageError("--dry-run with --plan: print a saved plan with `show PLANFILE`")
        _refuse_given(_CARRY_OUT_ONLY, "does not go with --dry-run, which is exactly `plan`")
        return run_plan(
            paths=paths,
            state_path=state_path,
            output_format=output_format,
            detailed_exitcode=detailed_exitcode,
            prune=prune,
            refresh=refresh,
            api_url=api_url,
            targets=targets,
            excludes=excludes,
            selectors=selectors,
            force_replace=force_replace,
            unmanaged=unmanaged,
            ignore_unmanaged=ignore_unmanaged,
            cost=costs.make_cost_options(
                pricing_file=pricing_file,
                allow_unpriced=allow_unpriced,
                max_hourly_increase=max_hourly_increase,
            ),
        )
    if refresh:
        raise click.UsageError(
            "--refresh goes with --dry-run; to correct live drift, run `reconcile`"
        )
    _refuse_given(_DRY_RUN_ONLY, "goes with --dry-run --refresh")
    return run_apply(
        paths=paths,
        state_path=state_path,
        output_format=output_format,
        detailed_exitcode=detailed_exitcode,
        prune=prune,
        concurrency=concurrency,
        no_wait=no_wait,
        wait_timeout=wait_timeout,
        lock_timeout=lock_timeout,
        api_url=api_url,
        plan_path=plan_path,
        writeback=WritebackOptions(
            commit=commit, push=push, prefix=commit_message_prefix, skip_ci=not no_skip_ci
        ),
        targets=targets,
        excludes=excludes,
        selectors=selectors,
        force_replace=force_replace,
        auto_approve=auto_approve,
        max_destroy=max_destroy,
        cost=costs.make_cost_options(
            pricing_file=pricing_file,
            allow_unpriced=allow_unpriced,
            max_hourly_increase=max_hourly_increase,
            min_balance_hours=min_balance_hours,
        ),
    )


def _refuse_given(names: tuple[str, ...], why: str) -> None:
    """A usage error naming the first of these flags given on the command line or by env:
    one this run would ignore (a default value was not given, so it is no reason)."""
    ctx = click.get_current_context()
    for param in ctx.command.params:
        source = ctx.get_parameter_source(param.name or "")
        if param.name in names and source not in (None, ParameterSource.DEFAULT):
            raise click.UsageError(f"{param.opts[0]} {why}")


def run_apply(
    *,
    paths: tuple[str, ...],
    state_path: str,
    output_format: str,
    detailed_exitcode: bool,
    prune: bool,
    concurrency: int,
    no_wait: bool,
    wait_timeout: float,
    lock_timeout: float,
    api_url: str | None,
    plan_path: str | None = None,
    writeback: WritebackOptions | None = None,
    targets: tuple[str, ...] = (),
    excludes: tuple[str, ...] = (),
    selectors: tuple[str, ...] = (),
    force_replace: tuple[str, ...] = (),
    auto_approve: bool = False,
    max_destroy: int | None = None,
    cost: CostOptions | None = None,
) -> int:
    from reconciler import checkout as git_checkout
    from reconciler import costing, pipeline
    from reconciler import writeback as git_writeback
    from reconciler.apply import ApplyOptions
    from reconciler.commands.scope import make_scope
    from reconciler.session import Session, Settings

    writeback = writeback or git_writeback.WritebackOptions()
    _check_sources(paths, plan_path, prune=prune)
    if plan_path and (targets or excludes or selectors or force_replace):
        raise click.UsageError(
            "--target/--exclude/--selector/--replace were decided when the plan was made; "
            "give them to `plan`"
        )
    scope = make_scope(
        targets=targets,
        excludes=excludes,
        selectors=selectors,
        force_replace=force_replace,
        max_destroy=max_destroy,
        auto_approve=auto_approve,
    )
    options = ApplyOptions(concurrency=concurrency, wait=not no_wait, wait_timeout=wait_timeout)
    resolved = Settings.resolve(
        os.environ,
        state_path=state_path,
        api_url=api_url,
        concurrency=concurrency,
        lock_timeout=lock_timeout,
    )
    clients = signals.OpenClients()  # cut when a stop has waited its grace
    # Before any deploy: a write-back that cannot work must not strand new IDs uncommitted.
    repo = git_writeback.prepare(state_path, writeback)
    checkout = git_checkout.find_checkout(paths, state_path)
    published: list[WritebackResult | GitError] = []

    def publish(result: ApplyResult) -> None:
        # Called under the state lock; a git failure is reported after the apply's summary.
        if repo is None:
            return
        try:
            published.append(git_writeback.write_back(repo, state_path, result, writeback))
        except GitError as exc:
            published.append(exc)

    cost_settings = cost or costing.CostOptions()
    priced: list[PlanCost] = []

    with Session(resolved, track=clients.track) as session:

        def vet(plan: Plan) -> None:
            # Before any call that changes anything: one pricing call, feasibility, the
            # budget, and the balance warning before the first deploy. Building the client
            # first: a token or URL that cannot work is this apply's one error.
            api = session.api
            priced.append(costing.vet_apply(plan, cost_settings, api, warn=costs.warn))

        def show_plan(plan: Plan) -> None:
            if output_format == "text":
                output.emit_plan(plan, "text", cost=priced[-1] if priced else None)
                click.echo()

        hooks = pipeline.Hooks(
            progress=output.progress_printer(),
            heartbeat=output.heartbeat_printer(),
            show_plan=show_plan,
            vet=vet,
        )
        with signals.stop_on_signals(
            session.stop,
            doing="starting no new calls, finishing and recording the ones in flight",
            clients=clients,
        ):
            carry = pipeline.Carry(options, scope, hooks, checkout, publish)
            if plan_path:
                run = pipeline.run_saved_plan(plan_path, session, carry)
            else:
                run = pipeline.run_apply(list(paths), session, prune=prune, carry=carry)
    plan, result = run.plan_run.plan, run.result
    output.emit_result(plan, result, output_format, cost=priced[-1] if priced else None)
    # IDs already recorded were committed even when some entries failed: they must not be lost.
    for done in published:
        if isinstance(done, GitError):
            click.echo(f"error: {done}", err=True)
            return EXIT_ERROR
        _report_writeback(done)
    if result.failed:
        return EXIT_ERROR
    return output.plan_exit_code(plan, detailed_exitcode=detailed_exitcode)


def _report_writeback(done: WritebackResult) -> None:
    """On stderr, so that `--output json` keeps stdout one JSON document."""
    if done.commit is None:
        return
    click.echo(f"committed the state file as {done.commit[:12]}", err=True)
    if done.push is not None:
        target = done.push.target
        retried = f" after {done.push.attempts - 1} rebase(s)" if done.push.attempts > 1 else ""
        pushed = (done.push.pushed or done.commit)[:12]
        click.echo(f"pushed {pushed} to {target.remote} {target.branch}{retried}", err=True)


def _check_sources(paths: tuple[str, ...], plan_path: str | None, *, prune: bool) -> None:
    if plan_path is None:
        if not paths:
            raise click.UsageError("give at least one manifest file or folder, or --plan PLANFILE")
        return
    if paths:
        raise click.UsageError(
            "--plan carries out exactly the saved plan; give no PATH (the manifests were read "
            "when the plan was made)"
        )
    if prune:
        raise click.UsageError("--prune was decided when the plan was made; give it to `plan`")
