"""`plan`: compare manifests with the recorded state and print the plan; change nothing."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

from reconciler.adapters import state_location
from reconciler.commands import output
from reconciler.commands.costs import pricing_options
from reconciler.commands.options import output_option, plan_options, refresh_option

if TYPE_CHECKING:
    from reconciler.core.cost import PlanCost
    from reconciler.costing import CostOptions
    from reconciler.pipeline import PlanRun, Scope
    from reconciler.session import Session


@click.command("plan")
@plan_options
@output_option("text", "json", "markdown")
@refresh_option
@pricing_options
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False),
    metavar="PLANFILE",
    help="Also save the plan, for a later `apply --plan PLANFILE`.",
)
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
    pricing_file: str | None,
    allow_unpriced: bool,
    max_hourly_increase: str | None,
    out_path: str | None,
) -> int:
    """Compare manifests with the recorded state and print the plan (changes nothing)."""
    from reconciler.commands import costs

    return run_plan(
        paths=paths,
        state_path=state_path,
        output_format=output_format,
        detailed_exitcode=detailed_exitcode,
        prune=prune,
        out_path=out_path,
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


def run_plan(
    *,
    paths: tuple[str, ...],
    state_path: str,
    output_format: str,
    detailed_exitcode: bool,
    prune: bool,
    out_path: str | None = None,
    refresh: bool = False,
    api_url: str | None = None,
    targets: tuple[str, ...] = (),
    excludes: tuple[str, ...] = (),
    selectors: tuple[str, ...] = (),
    force_replace: tuple[str, ...] = (),
    unmanaged: str = "report",
    ignore_unmanaged: tuple[str, ...] = (),
    cost: CostOptions | None = None,
) -> int:
    """Shared by `plan` and `apply --dry-run`: same output, same exit codes."""
    from reconciler import pipeline
    from reconciler.commands import costs
    from reconciler.commands.scope import make_scope
    from reconciler.session import Session, Settings

    cost_settings = cost or costs.make_cost_options()

    if not paths:
        raise click.UsageError("give at least one manifest file or folder")
    scope = make_scope(
        targets=targets, excludes=excludes, selectors=selectors, force_replace=force_replace
    )
    # Without --refresh a plan needs no API: asking for prices must not hold it up long.
    resolved = Settings.resolve(
        os.environ, state_path=state_path, api_url=api_url, quick=not refresh
    )
    with Session(resolved) as session:
        run = pipeline.make_plan_run(list(paths), session, prune=prune, scope=scope)
        if refresh:
            run = _refreshed(
                run,
                session,
                prune=prune,
                scope=scope,
                unmanaged=unmanaged,
                ignore_globs=ignore_unmanaged,
                paths=paths,
            )
        for warning in pipeline.preflight(run, session):
            click.echo(f"warning: {warning}", err=True)
        priced = _priced(run, cost_settings, session)
    if out_path:
        pipeline.save_plan(run, out_path, prune=prune)
    output.emit_plan(run.plan, output_format, cost=priced)
    if out_path:
        # On stderr: with --output json, stdout stays one JSON document.
        state_flags = state_location.as_flags(state_path)  # a database password is not shown
        click.echo(
            f"Saved the plan to {out_path}. To carry out exactly this plan, run:\n"
            f"  tensormesh-reconciler apply --plan {out_path} {state_flags}",
            err=True,
        )
    return output.plan_exit_code(run.plan, detailed_exitcode=detailed_exitcode)


def _priced(run: PlanRun, cost: CostOptions, session: Session) -> PlanCost:
    """The plan's cost from one pricing call or the --pricing FILE; unknown without either.
    An unpriced deploy is an error here already, so a pull request shows it."""
    from reconciler import costing
    from reconciler.commands import costs
    from reconciler.core import budget

    api = (lambda: session.api) if session.settings.has_token else None
    estimate = costing.price_plan(run.plan, cost, costing.load_prices(cost, api))
    limit = cost.max_hourly_increase
    if limit is not None and run.plan.has_api_calls:
        why = budget.refusal(estimate, limit)
        if why is not None:
            costs.warn(f"apply would refuse this plan: {why}")
    return estimate


def _refreshed(
    run: PlanRun,
    session: Session,
    *,
    prune: bool,
    scope: Scope,
    unmanaged: str,
    ignore_globs: tuple[str, ...],
    paths: tuple[str, ...],
) -> PlanRun:
    """The run with live drift folded into its plan (one list call; nothing written)."""
    from dataclasses import replace

    from reconciler import reconcile
    from reconciler.adapters import ignore_file

    ignore = reconcile.UnmanagedPolicy(
        report=unmanaged != "ignore",
        ignore=(*ignore_file.read_ignore_globs(paths), *ignore_globs),
    )
    plan = reconcile.refresh_plan(run, session, prune=prune, scope=scope, unmanaged=ignore)
    return replace(run, plan=plan)
