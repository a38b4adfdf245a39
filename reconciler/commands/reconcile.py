"""`reconcile`: refresh recorded entries from the live API, report drift, correct it;
every `--interval` seconds unless `--once`. Parses flags and wires; decides nothing.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from reconciler.commands import signals
from reconciler.commands.costs import pricing_options
from reconciler.commands.options import (
    SECONDS,
    FiniteFloat,
    api_url_option,
    check_output_folder,
    guard_options,
    lock_timeout_option,
    selection_options,
    state_option,
    unmanaged_options,
)
from reconciler.core.exit_codes import EXIT_ERROR, EXIT_OK

if TYPE_CHECKING:
    from reconciler.core.outcome import ApplyResult
    from reconciler.costing import CostOptions


@click.command("reconcile")
@click.argument("paths", nargs=-1, type=click.Path(), metavar="PATH...")
@state_option
@api_url_option
@click.option("--once", is_flag=True, help="Run one pass and exit with its code.")
@click.option(
    "--interval",
    type=FiniteFloat(0.1, unit="number of seconds"),
    default=300.0,
    show_default=True,
    help="Seconds between passes (±10% jitter).",
)
@click.option("--detect-only", is_flag=True, help="Report drift; change nothing.")
@click.option(
    "--pull",
    is_flag=True,
    help="`git pull --ff-only` in the manifests' clone before each pass (a pass fails when "
    "it cannot fast-forward).",
)
@click.option(
    "--push",
    is_flag=True,
    help="Commit the state file when a pass changed it and push it (as `apply --push`).",
)
@click.option("--prune", is_flag=True, help="Delete entries removed from the manifests.")
@click.option(
    "--output",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="A short table, or one JSON object per pass (JSON Lines).",
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="With --once: exit 2 when drift was found (or corrected).",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Logs on stderr: plain text or one JSON object per line.",
)
@click.option(
    "--metrics-file",
    callback=check_output_folder,
    help="Write Prometheus metrics here after each pass (its folder must exist).",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 256),
    default=8,
    show_default=True,
    help="At most N API calls in flight.",
)
@click.option(
    "--wait/--no-wait",
    default=False,
    show_default=True,
    help="Wait for corrected models to reach MODEL_STATUS_UP (default: do not; the next "
    "pass checks them).",
)
@click.option(
    "--wait-timeout",
    type=SECONDS,
    default=1800.0,
    show_default=True,
    help="Seconds to wait for MODEL_STATUS_UP with --wait.",
)
@lock_timeout_option
@selection_options
@guard_options
@unmanaged_options
@click.option(
    "--heal-changed",
    is_flag=True,
    help="Also replace running models whose live fields changed out of band (default: "
    "report them; missing and failed models are recreated either way).",
)
@pricing_options
def command(**options: object) -> int:
    """Detect drift against the live API and correct it."""
    from reconciler.commands.costs import pop_cost_options

    cost = pop_cost_options(options)
    return run_reconcile(**options, cost=cost)  # type: ignore[arg-type]


def run_reconcile(
    *,
    paths: tuple[str, ...],
    state_path: str,
    api_url: str | None,
    once: bool,
    interval: float,
    detect_only: bool,
    prune: bool,
    pull: bool = False,
    push: bool = False,
    output_format: str,
    detailed_exitcode: bool,
    log_format: str,
    metrics_file: str | None,
    concurrency: int,
    wait: bool,
    wait_timeout: float,
    lock_timeout: float,
    targets: tuple[str, ...] = (),
    excludes: tuple[str, ...] = (),
    selectors: tuple[str, ...] = (),
    auto_approve: bool = False,
    max_destroy: int | None = None,
    unmanaged: str = "report",
    ignore_unmanaged: tuple[str, ...] = (),
    heal_changed: bool = False,
    cost: CostOptions | None = None,
) -> int:
    from reconciler import reconcile
    from reconciler.adapters import http_api, ignore_file, logs
    from reconciler.apply import ApplyOptions
    from reconciler.commands.scope import make_scope
    from reconciler.core.pass_report import PassReport
    from reconciler.core.render_drift import pass_to_json_line, render_pass
    from reconciler.costing import CostOptions

    if not paths:
        raise click.UsageError("give at least one manifest file or folder")
    # A bad token or URL is one usage error now, not a failed pass every --interval.
    http_api.connect(api_url, concurrency=concurrency).close()
    logs.setup_logging(log_format)
    publish = _writeback(state_path, push=push and not detect_only)
    options = reconcile.PassOptions(
        prune=prune,
        detect_only=detect_only,
        heal_changed=heal_changed,
        apply=ApplyOptions(concurrency=concurrency, wait=wait, wait_timeout=wait_timeout),
        lock_timeout=lock_timeout,
        scope=make_scope(
            targets=targets,
            excludes=excludes,
            selectors=selectors,
            max_destroy=max_destroy,
            auto_approve=auto_approve,
        ),
        unmanaged=reconcile.UnmanagedPolicy(
            report=unmanaged != "ignore",
            ignore=(*ignore_file.read_ignore_globs(paths), *ignore_unmanaged),
        ),
        pull=pull,
        publish=publish,
        cost=cost or CostOptions(),
    )
    stop = threading.Event()
    clients = signals.OpenClients()  # cut when a stop has waited its grace

    cut_short = threading.Event()  # the stop came while a pass ran

    def run_one(number: int) -> PassReport:
        report = reconcile.run_pass(
            number,
            list(paths),
            state_path,
            options=options,
            connect=lambda: clients.track(http_api.connect(api_url, concurrency=concurrency)),
            stop=stop,
            env=os.environ,
        )
        if stop.is_set():
            cut_short.set()
        return report

    def emit(report: PassReport) -> None:
        text = pass_to_json_line(report) if output_format == "json" else render_pass(report)
        click.echo(text, nl=False)  # click.echo flushes: each pass shows up at once

    with signals.stop_on_signals(stop, doing="finishing the current pass safely", clients=clients):
        last = reconcile.run_passes(
            run_one, once=once, interval=interval, stop=stop, emit=emit, metrics_path=metrics_file
        )
    if not once:
        # Loop mode ends only on SIGTERM/SIGINT: a clean exit when it came between passes,
        # an error when it cut a pass short (some corrections were not made).
        return EXIT_ERROR if cut_short.is_set() else EXIT_OK
    return last.exit_code(detailed_exitcode=detailed_exitcode)


def _writeback(state_path: str, *, push: bool) -> Callable[[ApplyResult], None] | None:
    """The `--push` write-back, checked once before the first pass (as apply checks it)."""
    from reconciler import writeback

    options = writeback.WritebackOptions(push=push, verb="reconcile")
    repo = writeback.prepare(state_path, options)
    if repo is None:
        return None
    log = logging.getLogger("reconciler.reconcile")

    def publish(result: ApplyResult) -> None:
        done = writeback.write_back(repo, state_path, result, options)
        if done.commit is not None:
            log.info("committed the state file as %s", done.commit[:12])
        if done.push is not None:
            log.info("pushed to %s %s", done.push.target.remote, done.push.target.branch)

    return publish
