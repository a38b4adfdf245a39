"""`adopt`, wired: list the live models, pick, write one manifest each, record them owned.

Reads the API only (one list call per user, and one whoami when no user is given); never
deploys or deletes. Each manifest is read back through the same loader and checks as
`validate`, and recorded from what was read back, so the next `plan` is a no-op by
construction. Files are written before the state records them: after a crash, the next
run finds its own identical file and records it. Nothing here prints.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from reconciler.adapters import (
    manifest_files,
    manifest_writer,
    schema_files,
    state_location,
    yaml_loader,
)
from reconciler.core import adopt, live_manifest, onboard, validate
from reconciler.core.errors import UsageError
from reconciler.core.model import DesiredModel, LiveModel, RecordedEntry, State
from reconciler.core.onboard import AdoptReport, AdoptResult, AdoptRow, SkipReason
from reconciler.core.record import JournalRecord
from reconciler.core.spec import fingerprint_secret
from reconciler.session import Session


@dataclass(frozen=True, slots=True)
class AdoptOptions:
    out_dir: str
    users: tuple[str, ...] = ()  # --user; none: TENSORMESH_USER_ID, else the token's user
    targets: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()
    secret_envs: Mapping[str, str] = field(default_factory=dict)  # field -> env variable
    include_failed: bool = False
    dry_run: bool = False
    schema_ref: str | None = None


def run_adopt(options: AdoptOptions, session: Session) -> AdoptReport:
    """Adopt the selected live models; with `dry_run`, decide the same and change nothing."""
    secret_values = _secret_values(options.secret_envs, session.settings.environ)
    out = Path(options.out_dir)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {options.out_dir} is a file; give a folder for the manifests")
    if options.dry_run:
        # Like `plan`: reads only, takes no lock.
        state = session.read_state()
        live = _list_live(session, options)
        rows, _ = _decide(live, state, options, secret_values, write=False)
        return _report(rows, live, options, session.settings.state_path)
    with session.locked_state("adopt") as locked:
        store = locked.store
        # Listed under the lock: an apply that held it has recorded its models by now.
        live = _list_live(session, options)
        # The salt keys the fingerprints: it must be the one the file keeps.
        store.ensure_on_disk()
        rows, entries = _decide(live, store.state, options, secret_values, write=True)
        if entries:
            store.record_many([JournalRecord("entry", entry.name, entry) for entry in entries])
        store.commit()
    return _report(rows, live, options, session.settings.state_path)


def _report(
    rows: Sequence[AdoptRow],
    live: Sequence[tuple[LiveModel, str]],
    options: AdoptOptions,
    state_path: str,
) -> AdoptReport:
    return AdoptReport(
        rows=tuple(sorted(rows, key=lambda row: (row.live.model_name, row.live.model_id))),
        not_selected=len(live) - len(rows),
        out_dir=options.out_dir,
        dry_run=options.dry_run,
        secret_envs=dict(options.secret_envs),
        **_state_named(state_path),
    )


def _state_named(location: str) -> dict[str, Any]:
    """How the report names the state: a PostgreSQL URL without its password and with its
    workspace, and never as a file to commit."""
    if not state_location.is_database(location):
        return {"state_path": location}
    url, workspace = state_location.split(location)
    return {
        "state_path": state_location.describe(location),
        "state_flags": ("--state", state_location.redact(url), "--workspace", workspace),
        "state_in_repo": False,
    }


def _secret_values(secret_envs: Mapping[str, str], env: Mapping[str, str]) -> dict[str, str]:
    """field -> current value; every unset variable named at once, before any call."""
    missing = sorted(f"{f}={name}" for f, name in secret_envs.items() if not env.get(name))
    if missing:
        raise UsageError(
            f"--secret {', '.join(missing)}: the environment variable is not set. Export the "
            "value the models were deployed with: its fingerprint is recorded as assumed "
            "(the value itself is never written)"
        )
    return {f: env[name] for f, name in secret_envs.items()}


def _list_live(session: Session, options: AdoptOptions) -> list[tuple[LiveModel, str]]:
    """Every live model with the user it was listed for: one list call per user."""
    users = tuple(dict.fromkeys(options.users)) or (session.users.default(),)
    return [(model, user) for user in users for model in session.api.list_models(user)]


def _decide(
    live: Sequence[tuple[LiveModel, str]],
    state: State,
    options: AdoptOptions,
    secret_values: Mapping[str, str],
    *,
    write: bool,
) -> tuple[list[AdoptRow], list[RecordedEntry]]:
    out = Path(options.out_dir)
    owners = {model.model_id: user for model, user in live}
    selection = onboard.select_models(
        [model for model, _ in live],
        state,
        targets=options.targets,
        excludes=options.excludes,
        include_failed=options.include_failed,
        declared=_declared(out),
    )
    rows = list(selection.skipped)
    entries: list[RecordedEntry] = []
    if selection.candidates and write:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(
                f"cannot create --out {options.out_dir}: {exc.strerror or exc}; "
                "choose a folder you can write to"
            ) from exc
    writer = _Writer(options, state, secret_values, write=write)
    for model in selection.candidates:
        row, entry = writer.adopt_one(model, owners[model.model_id])
        rows.append(row)
        if entry is not None:
            entries.append(entry)
    return rows, entries


def _declared(out: Path) -> dict[str, str]:
    """name -> where a manifest under `out` already declares it (not its own NAME.yaml,
    which the file check handles: an identical one is an interrupted adopt's)."""
    if not out.is_dir():
        return {}
    try:
        desired, _, _ = manifest_files.check_manifests([str(out)])
    except UsageError:  # no manifest files there yet
        return {}
    own = {model.name: os.path.abspath(out / f"{model.name}.yaml") for model in desired}
    return {
        model.name: str(model.location)
        for model in desired
        if os.path.abspath(model.location.file) != own[model.name]
    }


class _Writer:
    """Converts, checks, writes and builds the entry for one candidate at a time."""

    def __init__(
        self,
        options: AdoptOptions,
        state: State,
        secret_values: Mapping[str, str],
        *,
        write: bool,
    ) -> None:
        self._options = options
        self._out = Path(options.out_dir)
        self._schema_ref = options.schema_ref or manifest_writer.schema_ref_for(self._out)
        self._validators = schema_files.load_validators()
        self._write = write
        self._prints = {
            f: fingerprint_secret(state.salt, f, value) for f, value in secret_values.items()
        }
        # spec.userId only when the user was chosen explicitly; else apply finds it as adopt did.
        self._explicit_users = bool(options.users)

    def adopt_one(self, model: LiveModel, owner: str) -> tuple[AdoptRow, RecordedEntry | None]:
        name = model.model_name
        draft = live_manifest.manifest_from_live(
            model,
            secret_envs=self._options.secret_envs,
            user_id=owner if self._explicit_users else None,
        )
        data = manifest_writer.render_manifest(
            draft, schema_ref=self._schema_ref, folder=self._options.out_dir
        )
        path = self._out / f"{name}.yaml"
        desired = self._read_back(data, str(path))
        if isinstance(desired, str):
            return self._skip(model, SkipReason.INVALID_MANIFEST, desired), None
        entry = adopt.adopted_entry(
            name, model, owner=owner, desired=desired, fingerprints=self._prints
        )
        if entry.spec_digest != desired.spec_digest:  # a guard: built from live, it cannot differ
            detail = "it differs from the live model"
            return self._skip(model, SkipReason.INVALID_MANIFEST, detail), None
        row = AdoptRow(
            model,
            AdoptResult.ADOPTED,
            file=str(path),
            written=self._write,
            assumed_secrets=tuple(sorted(entry.secrets)),
            unreported=draft.unreported,
        )
        if os.path.lexists(path):
            if _same_bytes(path, data):  # ours, from an adopt interrupted before recording
                return replace(row, written=False), entry if self._write else None
            return self._skip(model, SkipReason.FILE_EXISTS, str(path)), None
        if not self._write:
            return row, None
        try:
            manifest_writer.create_new_file(path, data)
        except FileExistsError:  # created since the check above, by someone else
            return self._skip(model, SkipReason.FILE_EXISTS, str(path)), None
        except OSError as exc:
            detail = f"cannot write {path}: {exc.strerror or exc}"
            return AdoptRow(model, AdoptResult.FAILED, SkipReason.WRITE_ERROR, detail), None
        return row, entry

    def _read_back(self, data: bytes, file: str) -> DesiredModel | str:
        """The manifest as `validate` and `plan` will read it, or the first problem."""
        loaded = yaml_loader.load_file_bytes(data, file)
        result = validate.check_documents(loaded.documents, self._validators)
        issues = (*loaded.issues, *result.issues)
        if issues or len(result.desired) != 1:
            first = issues[0] if issues else None
            return f"{first.message} (at {first.json_path})" if first else "no document"
        return result.desired[0]

    def _skip(self, model: LiveModel, reason: SkipReason, detail: str) -> AdoptRow:
        return AdoptRow(model, AdoptResult.SKIPPED, reason, detail)


def _same_bytes(path: Path, data: bytes) -> bool:
    try:
        return path.is_file() and not path.is_symlink() and path.read_bytes() == data
    except OSError:
        return False
