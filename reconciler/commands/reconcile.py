"""`reconcile`: refresh recorded entries from the live API, report drift, correct it;
every `--interval` seconds unless `--once`. Parses flags and wires; decides nothing.
"""

from __future__ import annotations

import os
import threading

import click

from reconciler.commands import signals
from reconciler.commands.options import (
    api_url_option,
    guard_options,
    lock_timeout_option,
    selection_options,
    state_option,
    unmanaged_options,
)


@click.command("reconcile")
@click.argument("paths", nargs=-1, type=click.Path(), metavar="PATH...")
@state_option
@api_url_option
@click.option("--once", is_flag=True, help="Run one pass and exit with its code.")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=300.0,
    show_default=True,
    help="Seconds between passes (±10% jitter).",
)
@click.option("--detect-only", is_flag=True, help="Report drift; change nothing.")
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
@click.option("--metrics-file", help="Write Prometheus metrics here after each pass.")
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
    type=click.FloatRange(0),
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
def command(**options: object) -> int:
    """Detect drift against the live API and correct it."""
    return run_reconcile(**options)  # type: ignore[arg-type]


def run_reconcile(
    *,
    paths: tuple[str, ...],
    state_path: str,
    api_url: str | None,
    once: bool,
    interval: float,
    detect_only: bool,
    prune: bool,
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
) -> int:
    from reconciler import reconcile
    from reconciler.adapters import http_api, ignore_file, logs
    from reconciler.apply import ApplyOptions
    from reconciler.commands.scope import make_scope
    from reconciler.core.pass_report import PassReport
    from reconciler.core.render_drift import pass_to_json_line, render_pass

    if not paths:
        raise click.UsageError("give at least one manifest file or folder")
    logs.setup_logging(log_format)
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
    )
    stop = threading.Event()

    def run_one(number: int) -> PassReport:
        return reconcile.run_pass(
            number,
            list(paths),
            state_path,
            options=options,
            connect=lambda: http_api.connect(api_url, concurrency=concurrency),
            stop=stop,
            env=os.environ,
        )

    def emit(report: PassReport) -> None:
        text = pass_to_json_line(report) if output_format == "json" else render_pass(report)
        click.echo(text, nl=False)  # click.echo flushes: each pass shows up at once

    with signals.stop_on_signals(stop, doing="finishing the current pass safely"):
        last = reconcile.run_passes(
            run_one, once=once, interval=interval, stop=stop, emit=emit, metrics_path=metrics_file
        )
    if not once:
        # Loop mode ends only on SIGTERM/SIGINT: a requested stop is a clean exit.
        return 0
    return last.exit_code(detailed_exitcode=detailed_exitcode)
