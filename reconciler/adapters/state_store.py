"""Store step: the locked, journaled state that apply and reconcile write through.

Each `record()` is durable (fsynced journal line) before it returns, or with `wait=False`
soon after (the next fsync of any record, or `flush()`); a record counts in memory only once
it is durable. With `wait=False` it still survives a kill of this process when it returns
(a written line, a committed row). `commit()` folds the journal into the state file.
Decides nothing about deployments: transitions are core/record.py.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, TypeVar

from reconciler.adapters import journal, state_file, state_location
from reconciler.adapters.state_lock import StateLock
from reconciler.core import record
from reconciler.core.errors import StateError
from reconciler.core.model import Intent, RecordedEntry, State
from reconciler.core.record import JournalRecord

_V = TypeVar("_V")


class JournalPort(Protocol):
    """What the store needs of a journal: buffered writes, group-committed syncs.

    `write_many(..., durable=False)` marks records whose writer will not wait for the disk;
    `hand_over(ticket)` returns once they survive a kill of this process (not a crash of
    the machine holding them); `sync(ticket)` once they are on disk."""

    bytes_written: int
    records_written: int

    @property
    def synced(self) -> int: ...
    def write_many(self, records: Sequence[JournalRecord], *, durable: bool = True) -> int: ...
    def hand_over(self, ticket: int) -> None: ...
    def sync(self, ticket: int) -> None: ...
    def close(self) -> None: ...
    def remove(self) -> None: ...


class Backing(Protocol):
    """Where a locked store keeps its state: the file, or a PostgreSQL workspace."""

    @property
    def journal(self) -> JournalPort: ...
    def exists(self) -> bool: ...
    def save(self, state: State) -> None: ...
    def note_run(self, **facts: Any) -> None: ...
    def release(self) -> None: ...


class _FileBacking:
    def __init__(self, path: Path, lock: StateLock) -> None:
        self.path = path
        self.lock = lock
        self._journal = journal.Journal(journal.journal_path(path))

    @property
    def journal(self) -> JournalPort:
        return self._journal

    def exists(self) -> bool:
        return self.path.exists()

    def save(self, state: State) -> None:
        state_file.save_state(self.path, state)

    def note_run(self, **facts: Any) -> None:
        del facts  # a state file keeps no history: git log is its audit trail

    def release(self) -> None:
        self.lock.release()


def read_state(path: str | Path) -> State:
    """The current state (file plus journal) without taking the lock: for read-only commands.

    A PostgreSQL location is read in one consistent snapshot, also without a lock."""
    if state_location.is_database(str(path)):
        from reconciler.adapters import pg_state

        return pg_state.read_state(str(path))
    return state_file.read_state(path)


class StateStore:
    """`with StateStore.open(path, command="apply") as store:` ... `store.commit()`."""

    def __init__(self, path: Path, backing: Backing, base: State, current: State) -> None:
        self.path = path
        self._backing = backing
        self._base = base  # what the state file holds
        # The file plus every journaled record, kept as mutable maps so that a record costs
        # O(1) rather than a copy of the whole State (which made an apply O(N^2)).
        self._header = replace(current, entries={}, intents={})
        self._entries = dict(current.entries)
        self._intents = dict(current.intents)
        self._journal = backing.journal
        self._mutex = threading.Lock()
        # Written, not yet known durable: (ticket, record), in ticket order.
        self._pending: list[tuple[int, JournalRecord]] = []

    @classmethod
    def open(cls, path: str | Path, *, command: str, lock_timeout: float = 60.0) -> StateStore:
        """Take the lock, then read the file and replay a journal left by an interrupted run.

        A symlinked state file is followed: lock, journal and writes all go beside its target.
        A PostgreSQL location opens its workspace instead (locked the same way).
        """
        if state_location.is_database(str(path)):
            from reconciler.adapters import pg_state

            backing, base, current = pg_state.open_backing(
                str(path), command=command, lock_timeout=lock_timeout
            )
            return cls(Path(str(path)), backing, base, current)
        path = state_file.resolve_path(path)
        lock = StateLock(path, command=command, timeout=lock_timeout)
        lock.acquire()
        try:
            base = state_file.read_document(path)
            current = record.replay(base, journal.read_journal(journal.journal_path(path)))
        except BaseException:
            lock.release()
            raise
        return cls(path, _FileBacking(path, lock), base, current)

    def __enter__(self) -> StateStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def state(self) -> State:
        """A snapshot (O(N) to build): read it once per pass, not once per record."""
        self.flush()
        with self._mutex:
            return self._snapshot()

    def _snapshot(self) -> State:
        return replace(self._header, entries=dict(self._entries), intents=dict(self._intents))

    @property
    def journal_bytes_written(self) -> int:
        return self._journal.bytes_written

    @property
    def journal_records_written(self) -> int:
        return self._journal.records_written

    @property
    def changed(self) -> bool:
        self.flush()
        with self._mutex:
            return not record.same_content(self._snapshot(), self._base)

    def record(self, rec: JournalRecord, *, wait: bool = True) -> None:
        """Make `rec` durable, then apply it; safe to call from apply's worker threads.

        `wait=False` returns once the record survives a kill of this process (a line written
        to the file, a row committed without waiting for the server's disk), not a crash
        of the machine holding it: it becomes durable with the next sync of any record
        (another worker's next intent, a few milliseconds later at most) or at `flush()`,
        and is applied in memory only then. Only for records that an already durable record
        makes recoverable: a deploy's returned ID, whose open intent makes the next run look
        it up by name.
        """
        self.record_many((rec,), wait=wait)

    def record_many(self, records: Sequence[JournalRecord], *, wait: bool = True) -> None:
        """`record` for several records at once: one write and (when waiting) one fsync."""
        with self._mutex:
            last = self._journal.write_many(records, durable=wait)
            first = last - len(records) + 1
            self._pending.extend(zip(range(first, last + 1), records, strict=True))
        if wait:
            self._sync(last)
        else:
            self._journal.hand_over(last)

    def flush(self) -> None:
        """Make every record written so far durable and apply it in memory."""
        with self._mutex:
            if not self._pending:
                return
            last = self._pending[-1][0]
        self._sync(last)

    def _sync(self, ticket: int) -> None:
        # Outside the mutex: records of concurrent workers share one fsync (group commit);
        # a serial fsync per record made a 32-wide apply wait on the disk, not the API.
        self._journal.sync(ticket)
        with self._mutex:
            self._apply_durable()

    def _apply_durable(self) -> None:
        """Apply, in journal order, the pending records that an fsync has covered: memory
        never claims what the disk lacks."""
        synced = self._journal.synced
        done = 0
        for ticket, rec in self._pending:
            if ticket > synced:
                break
            self._apply_in_place(rec)
            done += 1
        del self._pending[:done]

    def _apply_in_place(self, rec: JournalRecord) -> None:
        """The pure transition of core/record.py, run on a State holding only the names the
        record touches (each op sets or clears its own name), then written back to the maps."""
        names = {rec.name}
        if isinstance(rec.payload, Intent | RecordedEntry):
            names.add(rec.payload.name)
        small = replace(
            self._header,
            entries={n: self._entries[n] for n in names if n in self._entries},
            intents={n: self._intents[n] for n in names if n in self._intents},
        )
        after = record.apply_record(small, rec)
        for name in names:
            _put(self._entries, name, after.entries.get(name))
            _put(self._intents, name, after.intents.get(name))

    def ensure_on_disk(self) -> None:
        """Write the state file now if there is none yet (a first apply), so that its
        lineage and salt are durable before the first API call: replaying the journal onto a
        fresh state after a crash would otherwise change both (every secret would look
        rotated, and no model would carry this state's mark)."""
        if self._backing.exists():
            return
        with self._mutex:
            self._backing.save(self._base)  # no file: the base is a fresh state

    def commit(self, *, revision: str | None = None) -> bool:
        """Save a changed state with serial + 1 and drop the journal; True when it wrote.

        `revision` (the git commit applied from) is recorded with a change; None keeps the
        state's own. A revision alone is no change: it would commit on every run."""
        self.flush()
        with self._mutex:
            wrote = False
            current = self._snapshot()
            if not record.same_content(current, self._base):
                saved = replace(
                    current, serial=self._base.serial + 1, revision=revision or current.revision
                )
                self._backing.save(saved)
                self._base = saved
                self._header = replace(saved, entries={}, intents={})
                wrote = True
            # Only after the save: until then the journal is the one durable copy.
            self._journal.remove()
            return wrote

    def close(self) -> None:
        """Release the lock. An uncommitted journal stays, so the next read replays it."""
        # Lines written without waiting are in the file already; this only makes them
        # durable. A disk that fails now must not hide the error that brought us here,
        # and the open intents those lines settle stay durable either way.
        with contextlib.suppress(StateError):
            self.flush()
        with self._mutex:
            self._journal.close()
            self._backing.release()

    def install(self, state: State) -> None:
        """Make `state` this store's saved state exactly as given (serial included): for
        `state migrate`, so that a moved state keeps its lineage, serial and salt."""
        self.flush()
        with self._mutex:
            self._backing.save(state)
            self._journal.remove()
            self._base = state
            self._header = replace(state, entries={}, intents={})
            self._entries = dict(state.entries)
            self._intents = dict(state.intents)

    @property
    def saved(self) -> bool:
        """Whether a state was ever saved here (a file on disk, a workspace's document)."""
        return self._backing.exists()

    def note_run(self, **facts: Any) -> None:
        """What this run meant to do and did (plan, result), for a backend that keeps an
        audit history; the file backend keeps none."""
        self._backing.note_run(**facts)


def _put(table: dict[str, _V], name: str, value: _V | None) -> None:
    if value is None:
        table.pop(name, None)
    else:
        table[name] = value
