"""Store step: the locked, journaled state that apply and reconcile write through.

Each `record()` is durable (fsynced journal line) before it returns; `commit()` folds the
journal into the state file. Decides nothing about deployments: transitions are core/record.py.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path
from types import TracebackType

from reconciler.adapters import journal, state_file
from reconciler.adapters.state_lock import StateLock
from reconciler.core import record
from reconciler.core.model import State
from reconciler.core.record import JournalRecord


def read_state(path: str | Path) -> State:
    """The current state (file plus journal) without taking the lock: for read-only commands."""
    return state_file.load_state(path)


class StateStore:
    """`with StateStore.open(path, command="apply") as store:` ... `store.commit()`."""

    def __init__(self, path: Path, lock: StateLock, base: State, current: State) -> None:
        self.path = path
        self._lock = lock
        self._base = base  # what the state file holds
        self._state = current  # the file plus every journaled record
        self._journal = journal.Journal(journal.journal_path(path))
        self._mutex = threading.Lock()

    @classmethod
    def open(cls, path: str | Path, *, command: str, lock_timeout: float = 60.0) -> StateStore:
        """Take the lock, then load the file and replay a journal left by an interrupted run."""
        path = Path(path)
        lock = StateLock(path, command=command, timeout=lock_timeout)
        lock.acquire()
        try:
            base = state_file.read_state_file(path)
            current = record.replay(base, journal.read_journal(journal.journal_path(path)))
        except BaseException:
            lock.release()
            raise
        return cls(path, lock, base, current)

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
        with self._mutex:
            return self._state

    @property
    def journal_bytes_written(self) -> int:
        return self._journal.bytes_written

    @property
    def changed(self) -> bool:
        with self._mutex:
            return not record.same_content(self._state, self._base)

    def record(self, rec: JournalRecord) -> State:
        """Make `rec` durable, then apply it; safe to call from apply's worker threads."""
        with self._mutex:
            # Journal first: if the append fails, memory must not claim what disk lacks.
            self._journal.append(rec)
            self._state = record.apply_record(self._state, rec)
            return self._state

    def commit(self) -> bool:
        """Save a changed state with serial + 1 and drop the journal; True when it wrote."""
        with self._mutex:
            wrote = False
            if not record.same_content(self._state, self._base):
                saved = replace(self._state, serial=self._base.serial + 1)
                state_file.save_state(self.path, saved)
                self._base = self._state = saved
                wrote = True
            # Only after the save: until then the journal is the one durable copy.
            self._journal.remove()
            return wrote

    def close(self) -> None:
        """Release the lock. An uncommitted journal stays, so the next load replays it."""
        with self._mutex:
            self._journal.close()
            self._lock.release()
