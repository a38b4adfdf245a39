"""`state` subcommands: list, show, rm, unlock and import recorded entries (and merge-driver).

Thin: parses flags and prints; reading, locking and transitions live in the adapters and
core/record.py. `rm` and `import` edit the recorded state only; nothing is deployed or deleted live.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from typing import TYPE_CHECKING, Any

import click

from reconciler.adapters import secrets, state_file, state_location, state_lock, state_store
from reconciler.commands.options import api_url_option, lock_timeout_option, state_option
from reconciler.commands.state_merge import merge_driver_command
from reconciler.core import adopt, record
from reconciler.core.errors import StateError, UsageError
from reconciler.core.model import DesiredModel, LiveModel, RecordedEntry, State
from reconciler.core.ports import ModelsApi

if TYPE_CHECKING:
    from reconciler.session import Session

_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\Z")
_LIST_FIELDS = (
    ("name", "NAME"),
    ("modelId", "MODEL ID"),
    ("status", "STATUS"),
    ("deploymentId", "DEPLOYMENT ID"),
    ("userId", "USER ID"),
)


@click.group(name="state")
def command() -> None:
    """Inspect and edit the recorded state."""


command.add_command(merge_driver_command)


@command.command(name="list")
@state_option
@click.option("--output", "output_format", type=click.Choice(["text", "json"]), default="text")
def list_command(state_path: str, output_format: str) -> None:
    """List the recorded entries."""
    rows = [
        list_row(entry) for _, entry in sorted(state_store.read_state(state_path).entries.items())
    ]
    if output_format == "json":
        click.echo(json.dumps(rows, indent=2, sort_keys=True))
    elif not rows:
        click.echo(f"No entries recorded in {state_location.describe(state_path)}.")
    else:
        click.echo(render_table(rows), nl=False)


@command.command(name="show")
@click.argument("name")
@state_option
def show_command(name: str, state_path: str) -> None:
    """Print one recorded entry as JSON."""
    entry = find_entry(state_store.read_state(state_path), name, state_path)
    click.echo(json.dumps(record.entry_to_json(entry), indent=2, sort_keys=True))


@command.command(name="rm")
@click.argument("name")
@state_option
@lock_timeout_option
def rm_command(name: str, state_path: str, lock_timeout: float) -> None:
    """Forget an entry; the live model is not deleted."""
    from reconciler.session import Session, Settings

    resolved = Settings.resolve(os.environ, state_path=state_path, lock_timeout=lock_timeout)
    with Session(resolved) as session, session.locked_state("state rm") as locked:
        entry = find_entry(locked.state, name, state_path)
        locked.recorder.forget(name)
        locked.store.commit()
    click.echo(
        f"Forgot {name} (model {entry.model_id}) from {state_location.describe(state_path)}. "
        "Nothing was deleted: the "
        "live model keeps running; delete it in Tensormesh if it is no longer needed, or "
        f"`state import {name} {entry.model_id}` to manage it again."
    )


@command.command(name="unlock")
@state_option
def unlock_command(state_path: str) -> None:
    """Break the state lock left by a process that is gone."""
    if state_location.is_database(state_path):
        click.echo(
            f"{state_location.describe(state_path)} needs no unlock: its lock ends with its "
            "holder's database connection (a killed run's lock is already gone)."
        )
        return
    holder = state_lock.force_unlock(state_file.resolve_path(state_path))
    if holder is None:
        click.echo(f"{state_path} was not locked.")
    else:
        click.echo(f"Unlocked {state_path} (it was held by {holder}).")


@command.command(name="import")
@click.argument("name")
@click.argument("model_id")
@click.argument("paths", nargs=-1, type=click.Path(), metavar="[PATH]...")
@state_option
@api_url_option
@lock_timeout_option
def import_command(
    *,
    name: str,
    model_id: str,
    paths: tuple[str, ...],
    state_path: str,
    api_url: str | None,
    lock_timeout: float,
) -> None:
    """Adopt an existing deployment MODEL_ID as entry NAME.

    With the manifests (PATH...), a model identical to its manifest is recorded with the
    manifest's spec and the fingerprints of the current secret values, so the next plan
    is a no-op (the secrets are assumed, not verified: the API never returns them).
    """
    if not _NAME.match(name):
        raise click.UsageError(
            f"{name!r} is not a valid entry name: use lowercase letters, digits and '-', "
            "1-63 characters, starting and ending with a letter or digit"
        )
    # Imported here: only this subcommand talks to the control plane.
    from reconciler.adapters import manifest_files
    from reconciler.session import Session, Settings

    desired = _desired_named(manifest_files.load_desired(paths), name) if paths else None
    resolved = Settings.resolve(
        os.environ, state_path=state_path, api_url=api_url, concurrency=1, lock_timeout=lock_timeout
    )
    with Session(resolved) as session:
        live, owner = fetch_live(session.api, name, model_id, user_id=session.settings.user_id)
        entry = _import(name, live, owner, desired, session)
    click.echo(
        f"Imported {name} (model {entry.model_id}, {entry.status}) into "
        f"{state_location.describe(state_path)}. " + _import_hint(entry)
    )


def _import(
    name: str, live: LiveModel, owner: str, desired: DesiredModel | None, session: Session
) -> RecordedEntry:
    """Record `live` as entry `name`, under the lock."""
    state_path = session.settings.state_path
    with session.locked_state("state import") as locked:
        store, state = locked.store, locked.state
        existing = state.entries.get(name)
        if existing is not None:
            raise UsageError(
                f"{name} is already recorded in {state_location.describe(state_path)} as "
                f"model {existing.model_id}; "
                f"run `state rm {name}` first to replace it"
            )
        # The salt keys the fingerprints: it must be the one the file keeps.
        store.ensure_on_disk()
        prints = (
            secrets.fingerprint_available([desired], state.salt, session.settings.environ).get(
                name, {}
            )
            if desired is not None
            else {}
        )
        entry = adopt.adopted_entry(name, live, owner=owner, desired=desired, fingerprints=prints)
        store.record(record.JournalRecord(op="entry", name=name, payload=entry))
        store.commit()
    return entry


def _import_hint(entry: RecordedEntry) -> str:
    if entry.secrets:
        fields = ", ".join(sorted(entry.secrets))
        return (
            f"Its secrets ({fields}) are assumed to be the manifest's current values, not "
            "verified. Run `plan` to check it."
        )
    return "Run `plan` to see how it differs from the manifest."


def _desired_named(desired: tuple[DesiredModel, ...], name: str) -> DesiredModel:
    for model in desired:
        if model.name == name:
            return model
    raise UsageError(f"no manifest under the given paths has metadata.name {name!r}")


def fetch_live(
    api: ModelsApi, name: str, model_id: str, *, user_id: str | None
) -> tuple[LiveModel, str]:
    """Live model `model_id`, checked importable as `name`, and the user owning it."""
    owner = user_id or api.whoami()
    live = api.get_model(owner, model_id)
    if live.is_deleted:
        raise StateError(f"model {model_id} is deleted; there is nothing to import as {name}")
    if live.model_name and live.model_name != name:
        raise UsageError(
            f"model {model_id} is named {live.model_name!r}, not {name!r}; import it under its "
            f"own name (`state import {live.model_name} {model_id}`)"
        )
    return live, owner


def fetch_entry(api: ModelsApi, name: str, model_id: str, *, user_id: str | None) -> RecordedEntry:
    """The entry that adopts live model `model_id` as `name` without a manifest: its live
    spec, no secrets, so the next plan shows any difference to the manifest as a replace."""
    live, owner = fetch_live(api, name, model_id, user_id=user_id)
    return adopt.adopted_entry(name, live, owner=owner)


def list_row(entry: RecordedEntry) -> dict[str, Any]:
    row = {
        "name": entry.name,
        "modelId": entry.model_id,
        "deploymentId": entry.deployment_id,
        "status": entry.status,
        "userId": entry.user_id,
        "specDigest": entry.spec_digest,
    }
    if entry.failed is not None:
        row["lastDeployFailed"] = entry.failed  # the next plan replaces it
    return row


def render_table(rows: list[dict[str, Any]]) -> str:
    """Columns padded to their widest cell; a missing value shows as '-'."""
    table = [[title for _, title in _LIST_FIELDS]]
    table += [[str(row[key] or "-") for key, _ in _LIST_FIELDS] for row in rows]
    widths = [max(len(line[col]) for line in table) for col in range(len(_LIST_FIELDS))]
    return "".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        + "\n"
        for line in table
    )


def find_entry(state: State, name: str, state_path: str) -> RecordedEntry:
    entry = state.entries.get(name)
    if entry is not None:
        return entry
    close = difflib.get_close_matches(name, list(state.entries), n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(close)}?" if close else "run `state list` to see them"
    raise UsageError(f"no entry named {name!r} in {state_location.describe(state_path)}; {hint}")


def _add_moves() -> None:
    from reconciler.commands import state_moves

    command.add_command(state_moves.migrate_command)
    command.add_command(state_moves.history_command)


_add_moves()
