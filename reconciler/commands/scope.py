"""Flags of selection and guard rails, resolved once into a pipeline.Scope; and the
confirmation asked on a terminal before a run deletes or replaces a running model."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from reconciler.core.errors import UsageError
from reconciler.core.model import Plan
from reconciler.core.selection import parse_selection
from reconciler.pipeline import Scope


def make_scope(
    *,
    targets: Sequence[str] = (),
    excludes: Sequence[str] = (),
    selectors: Sequence[str] = (),
    force_replace: Sequence[str] = (),
    max_destroy: int | None = None,
    auto_approve: bool = True,
) -> Scope:
    try:
        selection = parse_selection(targets, excludes, selectors)
    except UsageError as exc:
        raise click.UsageError(str(exc)) from exc
    ask = not auto_approve and on_terminal()
    return Scope(
        selection=selection,
        force_replace=frozenset(force_replace),
        max_destroy=max_destroy,
        approve=confirm_destruction if ask else _approved,
    )


def on_terminal() -> bool:
    """Someone can answer: stdin and stdout are both terminals (a CI job never asks)."""
    return _isatty(sys.stdin) and _isatty(sys.stdout)


def _isatty(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _approved(plan: Plan) -> bool:
    del plan
    return True


def confirm_destruction(plan: Plan) -> bool:
    """Show the destructive part of the plan (on stderr) and ask; only `yes` goes on."""
    from reconciler.core.render_text import render_destructive

    click.echo(render_destructive(plan), err=True, nl=False)
    answer = click.prompt(
        "Type 'yes' to go on (anything else stops with nothing changed)",
        default="",
        show_default=False,
        err=True,
    )
    return str(answer).strip().lower() == "yes"
