"""Where command output goes: plans and results to stdout, progress to stderr, colour on
terminals only (NO_COLOR respected)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

import click

from reconciler.core.cost import PlanCost
from reconciler.core.exit_codes import EXIT_CHANGES, EXIT_OK
from reconciler.core.model import Plan
from reconciler.core.outcome import ApplyResult


def use_color(stream: object = None) -> bool:
    stream = sys.stdout if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and not os.environ.get("NO_COLOR")


def emit_plan(plan: Plan, output_format: str, *, cost: PlanCost | None = None) -> None:
    if output_format == "json":
        from reconciler.core.render_json import dumps, plan_to_json

        click.echo(dumps(plan_to_json(plan, cost)), nl=False)
    elif output_format == "markdown":
        from reconciler.core.render_markdown import render_markdown

        click.echo(render_markdown(plan, cost=cost), nl=False)
    else:
        from reconciler.core.render_text import render_plan

        click.echo(render_plan(plan, color=use_color(), cost=cost), nl=False)


def plan_exit_code(plan: Plan, *, detailed_exitcode: bool) -> int:
    return EXIT_CHANGES if detailed_exitcode and plan.has_api_calls else EXIT_OK


def emit_result(
    plan: Plan, result: ApplyResult, output_format: str, *, cost: PlanCost | None = None
) -> None:
    if output_format == "json":
        from reconciler.core.render_json import dumps
        from reconciler.core.render_outcome import result_to_json

        click.echo(dumps(result_to_json(plan, result, cost)), nl=False)
    else:
        from reconciler.core.render_outcome import render_result

        click.echo(render_result(result), nl=False)


def progress_printer() -> Callable[[str, str], None]:
    """Per-entry progress lines on stderr, on a terminal only (CI logs get the final table)."""
    if not use_color(sys.stderr) and not os.environ.get("TENSORMESH_PROGRESS"):
        return _silent

    def show(name: str, message: str) -> None:
        click.echo(f"  {name}: {message}", err=True)

    return show


def _silent(name: str, message: str) -> None:
    del name, message
