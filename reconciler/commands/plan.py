"""`plan`: compare manifests with the recorded state and print the plan; change nothing."""

from __future__ import annotations

import click

from reconciler.commands import output
from reconciler.commands.plan_flags import plan_options


@click.command("plan")
@plan_options
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
    **_ignored: object,
) -> int:
    """Shared by `plan` and `apply --dry-run`: same output, same exit codes."""
    from reconciler import pipeline

    if not paths:
        raise click.UsageError("give at least one manifest file or folder")
    run = pipeline.make_plan_run(list(paths), state_path, prune=prune)
    output.emit_plan(run.plan, output_format)
    return output.plan_exit_code(run.plan, detailed_exitcode=detailed_exitcode)
