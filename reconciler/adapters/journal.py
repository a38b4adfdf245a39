"""Journal step: the append-only `<state>.journal`, one fsynced JSON line per state transition.

Makes each recorded model ID durable at O(record) bytes; folding it into the state file is
the state store's job. Never rewrites earlier lines (apart from cutting a torn last one).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path

from reconciler.adapters import atomic_file, schema_files, strict_json
from reconciler.core.errors import StateError
from reconciler.core.record import JournalRecord
from reconciler.core.spec import canonical_json

log = logging.getLogger("reconciler.state")

SCHEMA = "state.v1.json"


def journal_path(state_path: str | Path) -> Path:
    return Path(f"{state_path}.journal")


class Journal:
    """Appends records to one journal file. `write` is not thread-safe on its own (the state
    store serialises it); `sync` is, so that concurrent writers share one fsync."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.bytes_written = 0
        self.records_written = 0
        self._fd: int | None = None
        self._synced = 0  # records_written as of the last successful fsync
        self._sync_lock = threading.Lock()

    def append(self, record: JournalRecord) -> None:
        """Write one line and fsync it: when this returns, the record survives a crash."""
        self.sync(self.write(record))

    def write(self, record: JournalRecord) -> int:
        """Write one line, not yet durable; returns the ticket to pass to `sync`."""
        return self.write_many((record,))

    def write_many(self, records: Sequence[JournalRecord], *, durable: bool = True) -> int:
        """Write one line per record in one write; returns the ticket of the last. Whether
        its writer waits for the disk (`durable`) changes nothing: lines are written at once."""
        del durable
        lines = "".join(canonical_json(record.to_json()) + "\n" for record in records).encode()
        try:
            atomic_file.write_all(self._open(), lines)
        except OSError as exc:
            raise self._failure(exc) from exc
        self.bytes_written += len(lines)
        self.records_written += len(records)
        return self.records_written

    def hand_over(self, ticket: int) -> None:
        """Nothing to do: `write_many` wrote the line to the OS, where a kill cannot reach it."""
        del ticket

    @property
    def synced(self) -> int:
        """The ticket of the last line known to be on disk."""
        return self._synced

    def sync(self, ticket: int) -> None:
        """Return once the line of `ticket` is on disk. Group commit: one fsync covers every
        line written before it, so N threads waiting here cost one fsync, not N in a row."""
        with self._sync_lock:
            if self._synced >= ticket:
                return  # another thread's fsync, started after our write, covered it
            covered = self.records_written  # every line counted here is already written
            try:
                os.fsync(self._open())
            except OSError as exc:
                raise self._failure(exc) from exc
            self._synced = covered

    def _failure(self, exc: OSError) -> StateError:
        return StateError(
            f"cannot append to state journal {self.path}: {exc.strerror or exc}; the last "
            "change may not be recorded, check the disk and run the command again"
        )

    def close(self) -> None:
        with self._sync_lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def remove(self) -> None:
        """Delete the journal once its records are in the state file."""
        self.close()
        try:
            self.path.unlink(missing_ok=True)
        except OSError as exc:
            raise StateError(
                f"cannot remove state journal {self.path}: {exc.strerror or exc}; it is "
                "harmless (replaying it changes nothing) but delete it by hand"
            ) from exc

    def _open(self) -> int:
        if self._fd is None:
            existed = self.path.exists()
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            _cut_torn_tail(fd)
            if not existed:
                # Make the new file's directory entry durable too, not only its bytes.
                atomic_file.fsync_dir(self.path.parent)
            self._fd = fd
        return self._fd

    @staticmethod
    def read(path: str | Path) -> list[JournalRecord]:
        return read_journal(path)


def read_journal(path: str | Path) -> list[JournalRecord]:
    """The records of a journal (none when it does not exist).

    A bad last line is a write cut short by a crash: it is skipped with a warning. A bad
    line before it means the file was damaged some other way, which raises StateError.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise StateError(f"cannot read state journal {path}: {exc.strerror or exc}") from exc
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    records: list[JournalRecord] = []
    for number, raw in enumerate(lines, start=1):
        problem: str | None
        try:
            text = raw.decode("utf-8")
            obj = strict_json.loads(text)
            strict_json.check_depth(text, [obj], depth=1)
            problem = schema_files.describe_violation(SCHEMA, obj, definition="journalRecord")
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            problem = f"not valid JSON ({exc})"
        except strict_json.BadJson as exc:
            problem = f"it holds {exc}"
        if problem is None:
            records.append(JournalRecord.from_json(obj))
            continue
        if number == len(lines):
            log.warning(
                "ignoring the torn last line %d of state journal %s (%s): a write cut short "
                "by a crash; the deploy it recorded, if any, is found again by name",
                number,
                path,
                problem,
            )
            break
        raise StateError(
            f"state journal {path} line {number} is corrupt: {problem}; it was not written by "
            "tensormesh-reconciler; restore it or delete it and run `reconcile` to adopt models"
        )
    return records


def _cut_torn_tail(fd: int) -> None:
    """Drop a partial last line left by a crash so that the next record starts a fresh line."""
    size = os.fstat(fd).st_size
    if size == 0:
        return
    chunk = min(size, 1 << 16)
    tail = os.pread(fd, chunk, size - chunk)
    if tail.endswith(b"\n"):
        return
    cut = tail.rfind(b"\n")
    # A torn line longer than the chunk read: scan the whole file.
    keep = size - chunk + cut + 1 if cut >= 0 or chunk == size else _last_newline_end(fd)
    os.ftruncate(fd, keep)
    os.fsync(fd)


def _last_newline_end(fd: int) -> int:
    size = os.fstat(fd).st_size
    data = os.pread(fd, size, 0)
    return data.rfind(b"\n") + 1
