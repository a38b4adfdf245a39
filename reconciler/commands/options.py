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
    func = unmanaged_options(func)
    return click.option(
        "--refresh",
        is_flag=True,
        help="Also compare with the live API: drifted entries show as replacements.",
    )(func)


def unmanaged_options(func: F) -> F:
    """`--unmanaged report|ignore` and `--ignore-unmanaged GLOB` (reconcile, plan --refresh)."""
    func = click.option(
        "--ignore-unmanaged",
        multiple=True,
        metavar="GLOB",
        help="Never list or count live models of this name (repeatable; shell globs); "
        "adds to the .tensormeshignore file of the manifests' folder.",
    )(func)
    return click.option(
        "--unmanaged",
        type=click.Choice(["report", "ignore"]),
        default="report",
        show_default=True,
        help="Live models no manifest names: report them (they count as drift) or ignore them.",
    )(func)


def selection_options(func: F) -> F:
    """`--target`, `--exclude`, `--selector`: which entries a run may touch (plan, apply,
    reconcile); the others are neither created, replaced, deleted nor pruned."""
    decorators = [
        click.option(
            "--target",
            "targets",
            multiple=True,
            metavar="NAME",
            help="Only this entry (repeatable; shell globs, e.g. 'llama-*').",
        ),
        click.option(
            "--exclude",
            "excludes",
            multiple=True,
            metavar="NAME",
            help="Leave this entry out (repeatable; shell globs).",
        ),
        click.option(
            "--selector",
            "selectors",
            multiple=True,
            metavar="KEY=VALUE",
            help="Only entries whose metadata.labels match (repeatable; all must match).",
        ),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def guard_options(func: F) -> F:
    """`--auto-approve` and `--max-destroy` (apply, reconcile)."""
    decorators = [
        click.option(
            "--auto-approve",
            is_flag=True,
            help="Ask no question before deletes and replaces (off a terminal none is asked).",
        ),
        click.option(
            "--max-destroy",
            type=click.IntRange(min=0),
            default=None,
            metavar="N",
            help="Refuse (exit 1, before any call) a run that deletes or replaces more than N.",
        ),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def plan_options(func: F) -> F:
    """Arguments and flags common to `plan` and `apply` (and so `apply --dry-run`); each
    command adds its `output_option` and its own flags."""
    decorators = [
        click.argument("paths", nargs=-1, type=click.Path(), metavar="PATH..."),
        state_option,
        api_url_option,
        click.option(
            "--detailed-exitcode",
            is_flag=True,
            help="Exit 2 when applying would make at least one API call.",
        ),
        click.option("--prune", is_flag=True, help="Delete entries removed from the manifests."),
        click.option(
            "--replace",
            "force_replace",
            multiple=True,
            metavar="NAME",
            help="Replace this entry even if unchanged (repeatable).",
        ),
        selection_options,
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def output_option(*formats: str) -> Callable[[F], F]:
    """`--output`, passed as `output_format: str`: markdown only where a command renders it."""
    shown = {
        "text": "Human text",
        "json": "one JSON document",
        "markdown": "a pull-request comment",
    }
    return click.option(
        "--output",
        "output_format",
        type=click.Choice(list(formats)),
        default="text",
        show_default=True,
        help=", ".join(shown[name] for name in formats[:-1]) + f" or {shown[formats[-1]]}.",
    )


def carry_out_options(func: F) -> F:
    """`apply`'s flags for making the calls (not `plan`'s, nor `apply --dry-run`'s)."""
    decorators = [
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
