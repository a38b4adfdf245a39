"""`plan`: compare manifests with the recorded state and print the plan; change nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from reconciler.commands import output
from reconciler.commands.costs import cost_options
from reconciler.commands.options import plan_options, refresh_option

if TYPE_CHECKING:
    from reconciler.core.cost import PlanCost
    from reconciler.costing import CostOptions
    from reconciler.pipeline import PlanRun


@click.command("plan")
@plan_options
@refresh_option
@cost_options
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False),
    metavar="PLANFILE",
    help="Also save the plan, for a later `apply --plan PLANFILE`.",
)
def command(**options: object) -> int:
    """Compare manifests with the recorded state and print the plan (changes nothing)."""
    return run_plan(**options)  # type: ignore[arg-type]


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
    pricing_file: str | None = None,
    allow_unpriced: bool = False,
    max_hourly_increase: str | None = None,
    min_balance_hours: float = 24.0,
    **_ignored: object,
) -> int:
    """Shared by `plan` and `apply --dry-run`: same output, same exit codes."""
    from reconciler import pipeline
    from reconciler.commands import costs

    cost_settings = costs.make_cost_options(
        pricing_file=pricing_file,
        allow_unpriced=allow_unpriced,
        max_hourly_increase=max_hourly_increase,
        min_balance_hours=min_balance_hours,
    )

    if not paths:
        raise click.UsageError("give at least one manifest file or folder")
    run = pipeline.make_plan_run(list(paths), state_path, prune=prune)
    if refresh:
        run = _refreshed(run, prune=prune, api_url=api_url)
    cost = _priced(run, cost_settings, api_url=api_url)
    if out_path:
        pipeline.save_plan(run, out_path, prune=prune)
    output.emit_plan(run.plan, output_format, cost=cost)
    return output.plan_exit_code(run.plan, detailed_exitcode=detailed_exitcode)


def _priced(run: PlanRun, settings: CostOptions, *, api_url: str | None) -> PlanCost:
    """The plan's cost from one pricing call or the --pricing FILE; unknown without either.
    An unpriced deploy is an error here already, so a pull request shows it."""
    import os

    from reconciler import costing
    from reconciler.commands import costs
    from reconciler.core import budget

    prices = costing.load_prices(settings, costs.pricing_connector(api_url, os.environ))
    cost = costing.price_plan(run.plan, settings, prices)
    limit = settings.max_hourly_increase
    if limit is not None and run.plan.has_api_calls:
        why = budget.refusal(cost, limit)
        if why is not None:
            costs.warn(f"apply would refuse this plan: {why}")
    return cost


def _refreshed(run: PlanRun, *, prune: bool, api_url: str | None) -> PlanRun:
    """The run with live drift folded into its plan (one list call; nothing written)."""
    import os
    from dataclasses import replace

    from reconciler import reconcile
    from reconciler.adapters import http_api

    plan = reconcile.refresh_plan(
        run, prune=prune, connect=lambda: http_api.connect(api_url), env=os.environ
    )
    return replace(run, plan=plan)
