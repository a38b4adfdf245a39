"""The flags `plan` and `apply` share (contract §3), declared once."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

import click

F = TypeVar("F", bound=Callable[..., object])

DEFAULT_STATE_FILE = "tensormesh.state.json"


def default_state_file() -> str:
    return os.environ.get("TENSORMESH_STATE_FILE") or DEFAULT_STATE_FILE


def refresh_option(func: F) -> F:
    """`plan --refresh`: also read the live models and fold drift into the plan (no writes)."""
    return click.option(
        "--refresh",
        is_flag=True,
        help="Also compare with the live API: drifted entries show as replacements.",
    )(func)


def plan_options(func: F) -> F:
    """Arguments and flags common to `plan` and `apply` (and so `apply --dry-run`)."""
    decorators = [
        click.argument("paths", nargs=-1, type=click.Path(), metavar="PATH..."),
        click.option(
            "--state",
            "state_path",
            default=default_state_file,
            show_default=f"$TENSORMESH_STATE_FILE or {DEFAULT_STATE_FILE}",
            help="Recorded-state file (created on first apply).",
        ),
        click.option(
            "--api-url", help="Control plane URL (else $TENSORMESH_CONTROL_PLANE_BASE_URL)."
        ),
        click.option(
            "--output",
            "output_format",
            type=click.Choice(["text", "json", "markdown"]),
            default="text",
            show_default=True,
            help="Human text, one JSON document, or a pull-request comment.",
        ),
        click.option(
            "--detailed-exitcode",
            is_flag=True,
            help="Exit 2 when applying would make at least one API call.",
        ),
        click.option("--prune", is_flag=True, help="Delete entries removed from the manifests."),
        click.option(
            "--concurrency",
            type=click.IntRange(1, 256),
            default=8,
            show_default=True,
            help="At most N API calls in flight.",
        ),
        click.option("--no-wait", is_flag=True, help="Return once IDs are recorded."),
        click.option(
            "--wait-timeout",
            type=click.FloatRange(0),
            default=1800.0,
            show_default=True,
            help="Seconds to wait for MODEL_STATUS_UP.",
        ),
        click.option(
            "--lock-timeout",
            type=click.FloatRange(0),
            default=60.0,
            show_default=True,
            help="Seconds to wait for the state lock.",
        ),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func
