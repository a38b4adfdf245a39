"""Shared click options of the subcommands, so one flag means one thing everywhere.

Declarations only: no I/O and no defaults computed at import time beyond constants.
"""

from __future__ import annotations

import click

from reconciler.adapters.state_file import DEFAULT_STATE_FILE, STATE_FILE_ENV

# `--state FILE`, passed to the command as `state_path: str`.
state_option = click.option(
    "--state",
    "state_path",
    default=DEFAULT_STATE_FILE,
    envvar=STATE_FILE_ENV,
    show_default=True,
    metavar="FILE",
    help=f"The recorded-state file (created on first apply); env {STATE_FILE_ENV}.",
)

# `--lock-timeout SECONDS`, passed as `lock_timeout: float`: how long to wait for the state lock.
lock_timeout_option = click.option(
    "--lock-timeout",
    "lock_timeout",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    metavar="SECONDS",
    help="How long to wait for another run holding the state lock.",
)
