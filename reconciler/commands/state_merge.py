"""`state merge-driver BASE OURS THEIRS`: git's merge driver for the state file (%O %A %B).

Reads the three versions, merges them with core/merge_state.py and writes the result over
OURS; exit 0 when merged, 1 on a conflict (OURS then stays as it was: valid JSON, never
conflict markers). Install it with `.gitattributes` and `git config`, see docs/state.md.
"""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.adapters import state_file
from reconciler.adapters.git_repo import GitRepo
from reconciler.core import merge_state
from reconciler.core.errors import GitError, StateError
from reconciler.core.exit_codes import EXIT_ERROR, EXIT_OK
from reconciler.core.model import State


@click.command(name="merge-driver")
@click.argument("base", type=click.Path(dir_okay=False))
@click.argument("ours", type=click.Path(dir_okay=False))
@click.argument("theirs", type=click.Path(dir_okay=False))
def merge_driver_command(base: str, ours: str, theirs: str) -> int:
    """Merge state files for git (BASE OURS THEIRS = %O %A %B); the result replaces OURS."""
    shown = "the state file"
    ours_state = _read_side(ours, "our side of the merge")
    theirs_state = _read_side(theirs, "their side of the merge")
    revision = merge_state.pick_revision(
        ours_state.revision, theirs_state.revision, is_ancestor=_is_ancestor
    )
    merged = merge_state.merge_states(_read_base(base), ours_state, theirs_state, revision=revision)
    if merged.state is None:
        for conflict in merged.conflicts:
            click.echo(
                f"error: cannot merge {shown}: {conflict.kind.value} {conflict.name}: "
                f"{conflict.why}",
                err=True,
            )
        click.echo(
            f"{shown} was left as our side (no conflict markers); every other entry merged "
            "cleanly. Resolve the names above, `git add` the file and continue.",
            err=True,
        )
        return EXIT_ERROR
    state_file.save_state(ours, merged.state)
    return EXIT_OK


def _read_side(path: str, what: str) -> State:
    try:
        return state_file.parse_state(Path(path).read_bytes(), source=f"{path} ({what})")
    except OSError as exc:
        raise StateError(f"cannot read {path} ({what}): {exc.strerror or exc}") from exc


def _read_base(path: str) -> State | None:
    """The common ancestor's state; None when it had none (git passes an empty file)."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    if not data.strip():
        return None
    try:
        return state_file.parse_state(data, source=f"{path} (the common ancestor)")
    except StateError as exc:
        # A damaged ancestor only loses the three-way view: merge both sides as a union.
        click.echo(f"warning: {exc}; merging without it", err=True)
        return None


def _is_ancestor(older: str, newer: str) -> bool:
    # git runs drivers at the top of the work tree; outside one, nothing is an ancestor.
    try:
        return GitRepo(Path.cwd()).is_ancestor(older, newer)
    except GitError:
        return False
