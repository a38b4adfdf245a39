"""Lock step for a PostgreSQL state: one writer per workspace, across machines.

A session-level advisory lock on a connection of its own: the server drops it when that
connection ends (kill -9, a cut network), so it never sticks. The holder row only says who
holds it. Keys are (LOCK_CLASS, workspace id): no two workspaces ever share one.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from typing import Any

from reconciler.adapters import pg_connect, state_location
from reconciler.adapters.pg_schema import LOCK_CLASS
from reconciler.core.errors import StateLockedError

_POLL_SECONDS = 0.1
_KEEPALIVES = (
    ("tcp_keepalives_idle", 30),
    ("tcp_keepalives_interval", 10),
    ("tcp_keepalives_count", 3),
)


class PgLock:
    def __init__(
        self, url: str, workspace_id: int, *, location: str, command: str, timeout: float
    ) -> None:
        self.url = url
        self.workspace_id = workspace_id
        self.location = location
        self.command = command
        self.timeout = timeout
        self._conn: Any = None

    @property
    def held(self) -> bool:
        return self._conn is not None

    def acquire(self) -> None:
        """Wait up to `timeout` seconds, then raise StateLockedError naming the holder."""
        conn = pg_connect.connect(self.url)
        deadline = time.monotonic() + self.timeout
        try:
            # A cut network: the server ends this session (and so the lock) after about a
            # minute of unanswered keepalives, instead of the OS default of two hours.
            for setting, value in _KEEPALIVES:
                conn.execute(f"SET {setting} = {value}")
            while not self._try(conn):
                if time.monotonic() >= deadline:
                    raise StateLockedError(
                        self._locked_message(read_holder(conn, self.workspace_id))
                    )
                time.sleep(_POLL_SECONDS)
            # A row left by a holder that died is simply replaced: its lock died with it.
            conn.execute(
                """INSERT INTO tensormesh_lock_holders
                       (workspace_id, command, host, pid, since, backend_pid)
                   VALUES (%s, %s, %s, %s, now(), pg_backend_pid())
                   ON CONFLICT (workspace_id) DO UPDATE SET command = EXCLUDED.command,
                       host = EXCLUDED.host, pid = EXCLUDED.pid, since = EXCLUDED.since,
                       backend_pid = EXCLUDED.backend_pid""",
                (self.workspace_id, self.command, socket.gethostname(), os.getpid()),
            )
        except BaseException as exc:
            conn.close()
            psycopg = pg_connect.driver()
            if isinstance(exc, psycopg.Error):
                raise pg_connect.failure(self.url, "cannot lock", exc) from exc
            raise
        self._conn = conn

    def _try(self, conn: Any) -> bool:
        row = conn.execute(
            "SELECT pg_try_advisory_lock(%s, %s)", (LOCK_CLASS, self.workspace_id)
        ).fetchone()
        return bool(row[0])

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        # Ending the session releases the lock in any case; the explicit steps only tidy up.
        with contextlib.suppress(Exception):
            conn.execute(
                "DELETE FROM tensormesh_lock_holders "
                "WHERE workspace_id = %s AND backend_pid = pg_backend_pid()",
                (self.workspace_id,),
            )
            conn.execute("SELECT pg_advisory_unlock(%s, %s)", (LOCK_CLASS, self.workspace_id))
        with contextlib.suppress(Exception):
            conn.close()

    def _locked_message(self, holder: dict[str, Any] | None) -> str:
        who = describe_holder(holder) if holder else "another session (no holder record)"
        return (
            f"state {state_location.describe(self.location)} is locked by {who}; wait for it "
            "to finish (the lock ends with its holder's database connection) or raise "
            "--lock-timeout"
        )


def read_holder(conn: Any, workspace_id: int) -> dict[str, Any] | None:
    """The holder row, only if its session is still alive (a dead one's row is stale)."""
    row = conn.execute(
        """SELECT h.command, h.host, h.pid,
                  to_char(h.since AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
           FROM tensormesh_lock_holders h
           JOIN pg_stat_activity a ON a.pid = h.backend_pid
           WHERE h.workspace_id = %s""",
        (workspace_id,),
    ).fetchone()
    if row is None:
        return None
    return {"command": row[0], "host": row[1], "pid": row[2], "startedAt": row[3]}


def describe_holder(holder: dict[str, Any]) -> str:
    return (
        f"`{holder.get('command', '?')}` (pid {holder.get('pid', '?')} on host "
        f"{holder.get('host', '?')} since {holder.get('startedAt', '?')})"
    )
