"""`apply`: carry the plan out and write model IDs back to the state as each call returns.

`apply --dry-run` is exactly `plan`. SIGINT/SIGTERM stop new calls, let the ones in
flight finish and be recorded, release the lock and exit 1 with a summary.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import click

from reconciler.commands import output
from reconciler.commands.plan import run_plan
from reconciler.commands.plan_flags import plan_options


@click.command("apply")
@plan_options
@click.option("--dry-run", is_flag=True, help="Exactly `plan`: same output, same exit codes.")
def command(**options: object) -> int:
    """Carry the plan out and write the model IDs back to the state."""
    if options.pop("dry_run"):
        return run_plan(**options)  # type: ignore[arg-type]
    return run_apply(**options)  # type: ignore[arg-type]


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
) -> int:
    from reconciler import pipeline
    from reconciler.adapters import http_api
    from reconciler.apply import ApplyOptions

    if not paths:
        raise click.UsageError("give at least one manifest file or folder")
    if output_format == "markdown":
        raise click.UsageError("--output markdown is for `plan`; use text or json with apply")
    options = ApplyOptions(concurrency=concurrency, wait=not no_wait, wait_timeout=wait_timeout)
    stop = threading.Event()
    with _stop_on_signals(stop):
        run = pipeline.run_apply(
            list(paths),
            state_path,
            prune=prune,
            options=options,
            connect=lambda: http_api.connect(api_url, concurrency=concurrency),
            stop=stop,
            progress=output.progress_printer(),
            lock_timeout=lock_timeout,
            env=os.environ,
        )
    plan, result = run.plan_run.plan, run.result
    if output_format == "text" and plan.has_api_calls:
        output.emit_plan(plan, "text")
        click.echo()
    output.emit_result(plan, result, output_format)
    if result.failed:
        return output.EXIT_ERROR
    return output.plan_exit_code(plan, detailed_exitcode=detailed_exitcode)


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """First SIGINT/SIGTERM: start no new call, finish and record the ones in flight."""

    def handle(signum: int, frame: FrameType | None) -> None:
        del frame
        if not stop.is_set():
            click.echo(
                f"\nreceived {signal.Signals(signum).name}: starting no new calls, "
                "finishing and recording the ones in flight",
                err=True,
            )
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
