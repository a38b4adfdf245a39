"""State step for PostgreSQL: one workspace's state document plus its journal rows.

The document is the state file's exact bytes (state_file.encode_state), so a move
file -> database -> file is byte-identical; the journal is one row per record, inserted in
one committed transaction per group commit. Decides nothing: transitions are core/record.py.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from typing import Any

from reconciler.adapters import (
    pg_connect,
    pg_history,
    pg_schema,
    schema_files,
    state_file,
    state_location,
)
from reconciler.adapters.pg_lock import PgLock
from reconciler.core import record
from reconciler.core.errors import StateError
from reconciler.core.model import State
from reconciler.core.record import JournalRecord
from reconciler.core.spec import canonical_json

log = logging.getLogger("reconciler.state")


def read_state(location: str) -> State:
    """The workspace's state in one REPEATABLE READ snapshot, without the lock; a database
    or workspace never written to reads as a fresh, empty state (nothing is created)."""
    url, workspace = state_location.split(location)
    conn = pg_connect.connect(url)
    try:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        version = pg_schema.read_version(conn)
        pg_schema.check_version(version, state_location.redact(url))
        workspace_id = None if version is None else pg_schema.find_workspace(conn, workspace)
        if workspace_id is None:
            conn.execute("COMMIT")
            return state_file.fresh_state()
        base = _read_document(conn, workspace_id, location)
        records = _read_journal(conn, workspace_id, location)
        conn.execute("COMMIT")
    except pg_connect.driver().Error as exc:
        raise pg_connect.failure(url, "cannot read", exc) from exc
    finally:
        conn.close()
    return record.replay(base, records)


def open_backing(
    location: str, *, command: str, lock_timeout: float
) -> tuple[PgBacking, State, State]:
    """Create/upgrade the schema, lock the workspace, then read it: (backing, base, current)."""
    url, workspace = state_location.split(location)
    conn = pg_connect.connect(url)
    lock: PgLock | None = None
    try:
        pg_schema.ensure_schema(conn, state_location.redact(url))
        workspace_id = pg_schema.ensure_workspace(conn, workspace)
        lock = PgLock(url, workspace_id, location=location, command=command, timeout=lock_timeout)
        lock.acquire()
        base = _read_document(conn, workspace_id, location)
        current = record.replay(base, _read_journal(conn, workspace_id, location))
    except BaseException as exc:
        if lock is not None:
            lock.release()
        conn.close()
        if isinstance(exc, pg_connect.driver().Error):
            raise pg_connect.failure(url, "cannot open", exc) from exc
        raise
    backing = PgBacking(conn, url, workspace_id, lock, command=command)
    return backing, base, current


def _read_document(conn: Any, workspace_id: int, location: str) -> State:
    row = conn.execute(
        "SELECT document FROM tensormesh_workspaces WHERE id = %s", (workspace_id,)
    ).fetchone()
    if row is None or row[0] is None:
        return state_file.fresh_state()
    return state_file.parse_state(bytes(row[0]), source=state_location.describe(location))


def _read_journal(conn: Any, workspace_id: int, location: str) -> list[JournalRecord]:
    records = []
    for seq, raw in conn.execute(
        "SELECT seq, record FROM tensormesh_journal WHERE workspace_id = %s ORDER BY seq",
        (workspace_id,),
    ):
        obj = json.loads(raw)
        problem = schema_files.describe_violation(
            state_file.SCHEMA, obj, definition="journalRecord"
        )
        if problem is not None:
            raise StateError(
                f"journal row {seq} of {state_location.describe(location)} is corrupt: {problem}"
            )
        records.append(JournalRecord.from_json(obj))
    return records


# One statement per group: the rows in array order (their seq follows the ordinality), and
# set_config(..., true) is SET LOCAL for the statement's own transaction, evaluated once.
# The array goes in binary (%b): its text form escapes every quote of every JSON line.
_INSERT_ROWS = """INSERT INTO tensormesh_journal (workspace_id, record)
    SELECT %s, r FROM unnest(%b::text[]) WITH ORDINALITY AS t(r, i)
    WHERE (SELECT set_config('synchronous_commit', %s, true)) IS NOT NULL
    ORDER BY i"""
# A commit flushes the WAL only if its transaction wrote some: rewriting the last row
# (unchanged) makes this synchronous commit flush every earlier commit with it.
_FLUSH_ROWS = """UPDATE tensormesh_journal SET record = record
    WHERE workspace_id = %s
      AND seq = (SELECT max(seq) FROM tensormesh_journal WHERE workspace_id = %s)"""


class PgJournal:
    """The journal as rows. `write_many` only buffers; `sync` and `hand_over` insert
    everything buffered in one committed transaction (group commit: concurrent workers
    share one round trip). A group whose rows were all written with `durable=False` (a
    deploy's returned ID) commits with synchronous_commit off: committed in the server when
    `hand_over` returns, so a kill of this process loses none, and on its disk with the next
    synchronous commit (a WAL flush covers every earlier commit) or the WAL writer's next
    round; only a crash of the server before then can lose it, as an OS crash can lose a
    state file's unsynced line."""

    def __init__(self, conn: Any, url: str, workspace_id: int) -> None:
        self._conn = conn
        self._url = url
        self._workspace_id = workspace_id
        self.bytes_written = 0
        self.records_written = 0
        self.written: list[JournalRecord] = []  # this run's records, for the audit history
        self._buffer: list[str] = []
        self._buffer_durable = False  # some buffered row's writer waits for the disk
        self._buffer_lock = threading.Lock()
        # Guards the two marks and whose turn it is to commit; waiters covered by a commit
        # all wake at once (handing a lock on one by one cost a thread switch per waiter).
        self._turn = threading.Condition()
        self._committing = False
        self._committed = 0  # tickets committed in the server
        self._synced = 0  # tickets committed and on the server's disk

    @property
    def synced(self) -> int:
        return self._synced

    def write_many(self, records: Sequence[JournalRecord], *, durable: bool = True) -> int:
        lines = [canonical_json(rec.to_json()) for rec in records]
        with self._buffer_lock:
            self._buffer.extend(lines)
            self._buffer_durable = self._buffer_durable or durable
            self.written.extend(records)
            self.bytes_written += sum(len(line) + 1 for line in lines)
            self.records_written += len(records)
            return self.records_written

    def hand_over(self, ticket: int) -> None:
        self._await(ticket, durable=False)

    def sync(self, ticket: int) -> None:
        self._await(ticket, durable=True)

    def _await(self, ticket: int, *, durable: bool) -> None:
        """Return once `ticket` is committed (on disk too when `durable`): by a commit of
        another thread, or by this one's, of every row buffered when it starts."""
        with self._turn:
            while self._committing and not self._covers(ticket, durable=durable):
                self._turn.wait()
            if self._covers(ticket, durable=durable):
                return
            self._committing = True
        committed, synced = self._committed, self._synced
        try:
            committed, synced = self._commit_buffer(durable=durable)
        finally:
            with self._turn:
                self._committed, self._synced = committed, synced
                self._committing = False
                self._turn.notify_all()

    def _covers(self, ticket: int, *, durable: bool) -> bool:
        return (self._synced if durable else self._committed) >= ticket

    def _commit_buffer(self, *, durable: bool) -> tuple[int, int]:
        """Insert every buffered row in one transaction, waiting for the server's disk when
        `durable` or when a buffered row's writer waits for it; the marks after it. Only
        one thread at a time (the one whose turn it is)."""
        with self._buffer_lock:
            rows, self._buffer = self._buffer, []
            durable = durable or self._buffer_durable
            self._buffer_durable = False
            covered = self.records_written
        if not rows:
            # Every ticket is committed, some without waiting for the disk: flush them.
            self._execute(_FLUSH_ROWS, (self._workspace_id, self._workspace_id))
            return covered, covered
        try:
            self._execute(_INSERT_ROWS, (self._workspace_id, rows, "on" if durable else "off"))
        except StateError:
            with self._buffer_lock:
                self._buffer[:0] = rows  # still not committed: a later sync retries them
                self._buffer_durable = self._buffer_durable or durable
            raise
        # A synchronous commit's WAL flush covers every earlier commit too.
        return covered, covered if durable else self._synced

    def _execute(self, statement: str, params: tuple[Any, ...]) -> None:
        try:
            self._conn.execute(statement, params)
        except pg_connect.driver().Error as exc:
            raise pg_connect.failure(self._url, "cannot append to the journal of", exc) from exc

    def close(self) -> None:
        """Nothing to close: the backing owns the connection."""

    def remove(self) -> None:
        """Nothing left to do: `PgBacking.save` deleted the rows with the save."""


class PgBacking:
    """The store's backing for one locked workspace."""

    def __init__(self, conn: Any, url: str, workspace_id: int, lock: PgLock, *, command: str):
        self._conn = conn
        self._url = url
        self._workspace_id = workspace_id
        self._lock = lock
        self._command = command
        self._facts: dict[str, Any] = {}
        self._journal = PgJournal(conn, url, workspace_id)

    @property
    def journal(self) -> PgJournal:
        return self._journal

    def exists(self) -> bool:
        row = self._conn.execute(
            "SELECT document IS NOT NULL FROM tensormesh_workspaces WHERE id = %s",
            (self._workspace_id,),
        ).fetchone()
        return bool(row and row[0])

    def save(self, state: State) -> None:
        """The document and the end of its journal in one transaction: never half of it."""
        try:
            with self._conn.transaction():
                self._conn.execute(
                    "UPDATE tensormesh_workspaces SET document = %s WHERE id = %s",
                    (state_file.encode_state(state), self._workspace_id),
                )
                self._conn.execute(
                    "DELETE FROM tensormesh_journal WHERE workspace_id = %s",
                    (self._workspace_id,),
                )
        except pg_connect.driver().Error as exc:
            raise pg_connect.failure(self._url, "cannot save", exc) from exc

    def note_run(self, **facts: Any) -> None:
        self._facts.update(facts)

    def release(self) -> None:
        """Append this run's history row (if it did or meant anything), then unlock."""
        try:
            entry = pg_history.history_entry(self._command, self._journal.written, **self._facts)
            if entry is not None:
                pg_history.append(self._conn, self._workspace_id, entry)
        except pg_connect.driver().Error as exc:
            # A warning, not an error: the run's records are committed already, and raising
            # here (on the way out) would hide the error that ended the run, if any.
            log.warning("%s", pg_connect.failure(self._url, "cannot write the history of", exc))
        finally:
            self._lock.release()
            self._conn.close()


def read_history(location: str, *, limit: int | None) -> list[dict[str, Any]]:
    """The workspace's audit history, newest first (empty for a workspace never written)."""
    url, workspace = state_location.split(location)
    conn = pg_connect.connect(url)
    try:
        version = pg_schema.read_version(conn)
        pg_schema.check_version(version, state_location.redact(url))
        workspace_id = None if version is None else pg_schema.find_workspace(conn, workspace)
        if workspace_id is None:
            return []
        return pg_history.read_history(conn, workspace_id, limit=limit)
    except pg_connect.driver().Error as exc:
        raise pg_connect.failure(url, "cannot read the history of", exc) from exc
    finally:
        conn.close()
