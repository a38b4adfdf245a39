"""`state migrate` and `state history`: move a state between a file and PostgreSQL, and
show a PostgreSQL workspace's audit history. Thin: the stores do the reading and writing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from reconciler.adapters import state_location, state_store
from reconciler.adapters.state_file import DEFAULT_STATE_FILE, STATE_FILE_ENV
from reconciler.commands.options import lock_timeout_option, state_option
from reconciler.core import record
from reconciler.core.errors import StateError


@click.command(name="migrate")
@click.option(
    "--state",
    "state_path",
    default=DEFAULT_STATE_FILE,
    envvar=STATE_FILE_ENV,
    show_default=True,
    metavar="FILE|URL",
    help="The state to copy from (with --to) or to (with --from).",
)
@click.option(
    "--workspace",
    default=state_location.DEFAULT_WORKSPACE,
    show_default=True,
    metavar="NAME",
    help="The workspace on the PostgreSQL side.",
)
@click.option("--to", "to_location", metavar="FILE|URL", help="Copy the --state to here.")
@click.option("--from", "from_location", metavar="FILE|URL", help="Copy from here to --state.")
@lock_timeout_option
def migrate_command(
    state_path: str,
    workspace: str,
    to_location: str | None,
    from_location: str | None,
    lock_timeout: float,
) -> None:
    """Copy a state between a file and PostgreSQL (both ways), lineage and serial kept."""
    if (to_location is None) == (from_location is None):
        raise click.UsageError("give exactly one of --to TARGET or --from SOURCE")
    other = to_location if to_location is not None else from_location
    assert other is not None
    here, there = (_located(place, workspace) for place in (state_path, other))
    source, target = (here, there) if to_location is not None else (there, here)
    if _same(source, target):
        raise click.UsageError("the source and the target are the same state")
    copied = copy_state(source, target, lock_timeout=lock_timeout)
    click.echo(
        f"Copied {len(copied.entries)} entries (serial {copied.serial}) from "
        f"{state_location.describe(source)} to {state_location.describe(target)}. The source "
        "is unchanged: point --state (or TENSORMESH_STATE_FILE) at the target from now on."
    )


def _located(place: str, workspace: str) -> str:
    """A file stays a path; a URL takes the --workspace."""
    if state_location.is_database(place):
        return state_location.with_workspace(place, workspace)
    return place


def _same(first: str, second: str) -> bool:
    """Two names of one state: the same URL and workspace, or files that are one file once
    symlinks are followed (copying a file onto itself would wait for its own lock)."""
    if state_location.is_database(first) or state_location.is_database(second):
        return first == second
    return Path(first).resolve() == Path(second).resolve()


def copy_state(source: str, target: str, *, lock_timeout: float) -> Any:
    """Both locked for the copy, so no run writes either meanwhile."""
    with state_store.StateStore.open(
        source, command="state migrate", lock_timeout=lock_timeout
    ) as src:
        src.note_run(env=os.environ)  # who moved it, in a database's history
        if not src.saved:
            raise StateError(f"there is no state at {state_location.describe(source)} to copy")
        state = src.state
        with state_store.StateStore.open(
            target, command="state migrate", lock_timeout=lock_timeout
        ) as dst:
            dst.note_run(env=os.environ)
            existing = dst.state
            if (
                dst.saved
                and not record.same_content(existing, state)
                and (existing.entries or existing.intents or existing.lineage != state.lineage)
            ):
                raise StateError(
                    f"{state_location.describe(target)} already holds a state (lineage "
                    f"{existing.lineage}, {len(existing.entries)} entries); refusing to "
                    "overwrite it: copy to an empty file or workspace"
                )
            dst.install(state)
    return state


@click.command(name="history")
@state_option
@click.option("--output", "output_format", type=click.Choice(["text", "json"]), default="text")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the N newest runs.")
def history_command(state_path: str, output_format: str, limit: int | None) -> None:
    """Show a PostgreSQL workspace's audit history, newest first."""
    if not state_location.is_database(state_path):
        raise click.UsageError(
            "state history is kept for a PostgreSQL state; a state file's history is its "
            "git log (`git log -p -- STATE_FILE`)"
        )
    from reconciler.adapters import pg_state

    runs = pg_state.read_history(state_path, limit=limit)
    if output_format == "json":
        click.echo(json.dumps(runs, indent=2, sort_keys=True))
        return
    if not runs:
        click.echo(f"No history in {state_location.describe(state_path)}.")
        return
    for run in runs:
        click.echo(render_run(run), nl=False)


def render_run(run: dict[str, Any]) -> str:
    actor = run.get("actor") or {}
    who = actor.get("git") or actor.get("user") or "?"
    ci = actor.get("ci") or {}
    ci_who = ci.get("GITHUB_ACTOR") or ci.get("GITLAB_USER_LOGIN")
    if ci_who:
        who = f"{who} (CI: {ci_who})"
    revision = (run.get("revision") or "-")[:12]
    lines = [f"#{run['id']} {run['at']} `{run['command']}` by {who} on {actor.get('host', '?')}"]
    lines[0] += f", revision {revision}"
    summary = run.get("summary")
    if summary:
        lines.append("  plan: " + ", ".join(f"{k} {v}" for k, v in sorted(summary.items())))
    for outcome in run.get("outcomes") or []:
        model = f" {outcome['modelId']}" if outcome.get("modelId") else ""
        lines.append(f"  {outcome.get('result', '?')} {outcome['name']}{model}")
    return "\n".join(lines) + "\n"
