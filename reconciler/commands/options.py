"""Shared click options of the subcommands, so one flag means one thing everywhere.

Declarations only: no I/O and no defaults computed at import time beyond constants.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

from reconciler.adapters import endpoint, state_location
from reconciler.adapters.state_file import DEFAULT_STATE_FILE, STATE_FILE_ENV
from reconciler.core.errors import UsageError

F = TypeVar("F", bound=Callable[..., object])


class FiniteFloat(click.ParamType):  # type: ignore[type-arg, unused-ignore]
    """A finite number within [minimum, maximum]: click's FloatRange lets `nan` through
    (every comparison with NaN is false) and `inf`, which would make a wait endless."""

    name = "number"

    def __init__(self, minimum: float = 0.0, maximum: float | None = None, *, unit: str) -> None:
        self.minimum, self.maximum, self.unit = minimum, maximum, unit

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        inside = self.minimum <= number and (self.maximum is None or number <= self.maximum)
        if not (math.isfinite(number) and inside):
            bound = (
                f">= {self.minimum:g}"
                if self.maximum is None
                else (f"between {self.minimum:g} and {self.maximum:g}")
            )
            self.fail(f"{str(value)[:40]!r} is not a finite {self.unit} {bound}")
        return number


SECONDS = FiniteFloat(unit="number of seconds")
PROBABILITY = FiniteFloat(0.0, 1.0, unit="probability")


def check_api_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """`--api-url` is checked as it is parsed: before manifests are read or a lock is taken."""
    if value is None:
        return None
    try:
        return endpoint.check_url(value, source="--api-url")
    except UsageError as exc:
        raise click.BadParameter(
            "the URL " + str(exc).removeprefix("--api-url "), ctx, param
        ) from exc


def check_output_folder(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> str | None:
    """A file we will write (metrics): its folder must exist; we never create folders."""
    if value is None:
        return None
    folder = os.path.dirname(value) or "."
    if not os.path.isdir(folder):
        raise click.BadParameter(f"its folder {folder} does not exist; create it first", ctx, param)
    if os.path.isdir(value):
        raise click.BadParameter(f"{value} is a folder; give a file path", ctx, param)
    return value


def state_option(func: F) -> F:
    """`--state FILE|URL` and `--workspace NAME`, passed to the command folded into one
    `state_path: str` (a PostgreSQL URL carries its workspace; see adapters/state_location)."""

    @functools.wraps(func)
    def folded(*args: Any, workspace: str, **kwargs: Any) -> object:
        kwargs["state_path"] = state_location.with_workspace(kwargs["state_path"], workspace)
        return func(*args, **kwargs)

    with_workspace = click.option(
        "--workspace",
        default=state_location.DEFAULT_WORKSPACE,
        show_default=True,
        metavar="NAME",
        help="The workspace inside a PostgreSQL state (several environments in one database).",
    )(folded)
    return click.option(  # type: ignore[return-value]
        "--state",
        "state_path",
        default=DEFAULT_STATE_FILE,
        envvar=STATE_FILE_ENV,
        show_default=True,
        metavar="FILE|URL",
        help=(
            "The recorded-state file (created on first apply), or a PostgreSQL URL "
            f"postgresql://USER[:PASSWORD]@HOST:PORT/DB; env {STATE_FILE_ENV}."
        ),
    )(with_workspace)


# `--lock-timeout SECONDS`, passed as `lock_timeout: float`: how long to wait for the state lock.
lock_timeout_option = click.option(
    "--lock-timeout",
    "lock_timeout",
    type=SECONDS,
    default=60.0,
    show_default=True,
    metavar="SECONDS",
    help="How long to wait for another run holding the state lock.",
)

# `--api-url URL`, passed as `api_url: str | None`.
api_url_option = click.option(
    "--api-url",
    metavar="URL",
    callback=check_api_url,
    help="Control plane URL (else $TENSORMESH_CONTROL_PLANE_BASE_URL).",
)


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
        state_option,
        api_url_option,
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
            type=SECONDS,
            default=1800.0,
            show_default=True,
            help="Seconds to wait for MODEL_STATUS_UP.",
        ),
        lock_timeout_option,
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func
