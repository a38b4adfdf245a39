"""`apply`: carry the plan out and write model IDs back to the state as each call returns.

`apply --dry-run` is exactly `plan`. SIGINT/SIGTERM stop new calls, let the ones in
flight finish and be recorded, release the lock and exit 1 with a summary.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

import click

from reconciler.commands import costs, output, signals
from reconciler.commands.options import plan_options, refresh_option
from reconciler.commands.plan import run_plan
from reconciler.core.errors import GitError
from reconciler.core.exit_codes import EXIT_ERROR

if TYPE_CHECKING:
    from reconciler.core.cost import PlanCost
    from reconciler.core.model import Plan
    from reconciler.core.outcome import ApplyResult
    from reconciler.costing import CostOptions
    from reconciler.writeback import WritebackOptions, WritebackResult


@click.command("apply")
@plan_options
@refresh_option
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
def command(**options: object) -> int:
    """Carry the plan out and write the model IDs back to the state."""
    from reconciler.writeback import WritebackOptions

    plan_path = options.pop("plan_path")
    writeback = WritebackOptions(
        commit=bool(options.pop("commit")),
        push=bool(options["push"]),
        prefix=str(options.pop("commit_message_prefix")),
        skip_ci=not options.pop("no_skip_ci"),
    )
    options.pop("push")
    refresh = bool(options.pop("refresh"))
    if options.pop("dry_run"):
        if plan_path:
            raise click.UsageError("--dry-run with --plan: print a saved plan with `show PLANFILE`")
        return run_plan(**options, refresh=refresh)  # type: ignore[arg-type]
    if refresh:
        raise click.UsageError(
            "--refresh goes with --dry-run; to correct live drift, run `reconcile`"
        )
    cost = costs.pop_cost_options(options)
    return run_apply(**options, plan_path=plan_path, writeback=writeback, cost=cost)  # type: ignore[arg-type]


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
    cost: CostOptions | None = None,
) -> int:
    from reconciler import checkout as git_checkout
    from reconciler import costing, pipeline
    from reconciler import writeback as git_writeback
    from reconciler.adapters import http_api
    from reconciler.apply import ApplyOptions

    writeback = writeback or git_writeback.WritebackOptions()
    _check_sources(paths, plan_path, prune=prune)
    if output_format == "markdown":
        raise click.UsageError("--output markdown is for `plan`; use text or json with apply")
    options = ApplyOptions(concurrency=concurrency, wait=not no_wait, wait_timeout=wait_timeout)
    stop = threading.Event()
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

    def vet(plan: Plan) -> None:
        # Before any call that changes anything: one pricing call, feasibility, the budget,
        # and the balance warning before the first deploy.
        connect = lambda: clients.track(http_api.connect(api_url, concurrency=1))  # noqa: E731
        priced.append(costing.vet_apply(plan, cost_settings, connect, warn=costs.warn))

    def show_plan(plan: Plan) -> None:
        if output_format == "text":
            output.emit_plan(plan, "text", cost=priced[-1] if priced else None)
            click.echo()

    with signals.stop_on_signals(
        stop,
        doing="starting no new calls, finishing and recording the ones in flight",
        clients=clients,
    ):
        if plan_path:
            run = pipeline.run_saved_plan(
                plan_path,
                state_path,
                options=options,
                connect=lambda: clients.track(http_api.connect(api_url, concurrency=concurrency)),
                stop=stop,
                progress=output.progress_printer(),
                lock_timeout=lock_timeout,
                env=os.environ,
                show_plan=show_plan,
                checkout=checkout,
                publish=publish,
                vet=vet,
            )
        else:
            run = pipeline.run_apply(
                list(paths),
                state_path,
                prune=prune,
                options=options,
                connect=lambda: clients.track(http_api.connect(api_url, concurrency=concurrency)),
                stop=stop,
                progress=output.progress_printer(),
                lock_timeout=lock_timeout,
                env=os.environ,
                show_plan=show_plan,
                checkout=checkout,
                publish=publish,
                vet=vet,
            )
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
        click.echo(f"pushed to {target.remote} {target.branch}{retried}", err=True)


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
