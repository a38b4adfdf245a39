"""State step: read, check and atomically write the state file (`tensormesh.state.json`).

Refuses anything it cannot fully trust with one clear StateError and leaves the file
untouched. Takes no lock and decides nothing: the state store and core/record.py do that.
"""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
import uuid
from pathlib import Path
from typing import Any

from reconciler.adapters import atomic_file, journal, schema_files, strict_json
from reconciler.core import record
from reconciler.core.errors import StateError
from reconciler.core.model import State

DEFAULT_STATE_FILE = "tensormesh.state.json"
STATE_FILE_ENV = "TENSORMESH_STATE_FILE"
SCHEMA = "state.v1.json"
# Where an entry's free-form spec sits: root (1), entries (2), the entry (3), spec (4).
_SPEC_DEPTH = 4
_MAX_SYMLINK_HOPS = 40
_CONFLICT_MARKER = re.compile(r"^(<{7}|={7}|>{7})(?:[ \t]|$)", re.MULTILINE)


def fresh_state() -> State:
    """A state for a file that does not exist yet: new lineage, new fingerprint salt."""
    return record.new_state(lineage=str(uuid.uuid4()), salt=secrets.token_hex(32))


def encode_state(state: State) -> bytes:
    """The file's exact bytes: same state, same bytes (sorted keys, no timestamps)."""
    return (json.dumps(record.state_to_json(state), sort_keys=True, indent=2) + "\n").encode()


def resolve_path(path: str | Path) -> Path:
    """The file a `--state` path stands for: a symlink is followed to its target (also a
    dangling one, whose target the first save creates), so that the lock, the journal and
    the atomic rename all act beside the real file and the link stays a link."""
    path = Path(path)
    for _ in range(_MAX_SYMLINK_HOPS):
        try:
            target = os.readlink(path)
        except OSError:  # not a symlink (or missing): the path itself
            return path
        path = path.parent / target
    raise StateError(
        f"state file {path} is a symlink loop (more than {_MAX_SYMLINK_HOPS} links); "
        "point --state at a real file"
    )


def read_state(path: str | Path) -> State:
    """The state file with its journal replayed on top (in memory only)."""
    path = resolve_path(path)
    return record.replay(read_document(path), journal.read_journal(journal.journal_path(path)))


def read_document(path: str | Path) -> State:
    """The state file alone; a missing file is a fresh, empty state."""
    path = resolve_path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return fresh_state()
    except IsADirectoryError as exc:
        raise StateError(
            f"state file {path} is a directory, not a file; pass the state file's path "
            f"with --state (e.g. {path / DEFAULT_STATE_FILE})"
        ) from exc
    except PermissionError as exc:
        raise StateError(
            f"cannot read state file {path}: permission denied; run as a user who can read it"
        ) from exc
    except OSError as exc:
        raise StateError(f"cannot read state file {path}: {exc.strerror or exc}") from exc
    return parse_state(data, source=str(path))


def parse_state(data: bytes, *, source: str) -> State:
    """Decode and check a state document; every refusal names `source`."""
    hint = "restore it from version control (git checkout -- FILE) or fix it by hand"
    if not data.strip():
        raise StateError(f"state file {source} is empty (truncated?); {hint}")
    try:
        # An editor's byte-order mark is harmless; the next save drops it.
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise StateError(
            f"state file {source} is not UTF-8 text (byte {exc.start}); {hint}"
        ) from exc
    conflict = conflict_marker_line(text)
    if conflict is not None:
        # No JSON document has a line starting with a marker: refuse before parsing.
        raise StateError(_conflict_message(source, conflict))
    try:
        obj: Any = strict_json.loads(text)
    except strict_json.BadJson as exc:
        raise StateError(f"state file {source} holds {exc}; {hint}") from exc
    except json.JSONDecodeError as exc:
        # The file ends mid-document: at end of input, or inside a string never closed.
        if exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string"):
            raise StateError(
                f"state file {source} is truncated: the JSON ends early at line {exc.lineno} "
                f"column {exc.colno}; {hint}"
            ) from exc
        raise StateError(
            f"state file {source} is not valid JSON: {exc.msg} at line {exc.lineno} "
            f"column {exc.colno}; {hint}"
        ) from exc
    version: Any = obj.get("formatVersion") if isinstance(obj, dict) else None
    if (
        isinstance(version, int)
        and not isinstance(version, bool)
        and version > record.FORMAT_VERSION
    ):
        raise StateError(
            f"state file {source} has formatVersion {version}: it was written by a newer "
            f"tensormesh-reconciler (this one reads version {record.FORMAT_VERSION}); upgrade"
        )
    problem = schema_files.check_document(SCHEMA, obj)
    if problem is not None:
        raise StateError(f"state file {source} is invalid at {problem}; {hint}")
    try:
        # Only a spec is free-form; the schema bounds the depth of everything else.
        specs = (entry["spec"] for entry in obj["entries"].values())
        strict_json.check_depth(text, specs, depth=_SPEC_DEPTH)
    except strict_json.BadJson as exc:
        raise StateError(f"state file {source} holds {exc}; {hint}") from exc
    for table in ("entries", "intents"):
        for key, value in obj[table].items():
            if value["name"] != key:
                raise StateError(
                    f"state file {source} is invalid at $.{table}.{key}.name: the key {key!r} "
                    f"holds {value['name']!r}; make them equal (the key is the entry's name)"
                )
    return record.state_from_json(obj)


def conflict_marker_line(text: str) -> int | None:
    """The line of the first git conflict marker in `text`, or None."""
    match = _CONFLICT_MARKER.search(text)
    return None if match is None else text.count("\n", 0, match.start()) + 1


def _conflict_message(source: str, line: int) -> str:
    return (
        f"state file {source} is not valid JSON: git merged it as text and left git conflict "
        f"markers (<<<<<<< ======= >>>>>>>), the first git merge conflict marker at line {line}. "
        "Nothing was read or changed. Either merge again entry by entry with "
        "`state merge-driver` (`git config merge.tensormesh-state.driver "
        "'tensormesh-reconciler state merge-driver %O %A %B'` and a line "
        f"`{Path(source).name} merge=tensormesh-state` in .gitattributes), or take one "
        f"side (`git checkout --theirs -- {source}` or `--ours`) and run `plan` to see "
        "what the other side's changes would do"
    )


def save_state(path: str | Path, state: State) -> None:
    """Replace the file atomically: a crash leaves the old or the new file, never a mix."""
    path = resolve_path(path)
    try:
        atomic_file.replace_file(path, encode_state(state), new_mode=0o666)
    except OSError as exc:
        raise StateError(_write_failure(path, exc)) from exc


def _write_failure(path: Path, exc: OSError) -> str:
    causes = {
        errno.ENOSPC: "the disk is full; free some space",
        errno.EDQUOT: "the disk quota is exhausted; free some space",
        errno.EROFS: "the file system is read-only; use a writable --state path",
        errno.EACCES: "permission denied; run as a user who can write that folder",
        errno.EPERM: "permission denied; run as a user who can write that folder",
        errno.ENOENT: "its folder does not exist; create it or fix --state",
        errno.ENOTDIR: "a part of its folder path is a file, not a folder; fix --state",
        errno.EISDIR: "it is a directory, not a file; pass the state file's path with --state",
    }
    cause = causes.get(exc.errno or 0, f"{exc.strerror or exc}")
    return (
        f"cannot write state file {path}: {cause}. The previous state file is unchanged; "
        "the journal next to it keeps what this run recorded"
    )
