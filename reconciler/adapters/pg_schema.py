"""The PostgreSQL backend's own tables, versioned: created and upgraded by the tool.

A database whose schema version is newer than this program knows is refused. Creation and
upgrades run under a transaction-level advisory lock, so two first runs never race.
"""

from __future__ import annotations

from typing import Any

from reconciler.core.errors import StateError

SCHEMA_VERSION = 1
# Advisory lock keys use the two-int form: (LOCK_CLASS, workspace id). Workspace ids are a
# serial, so two workspaces never share a key (no hashing of names); 0 guards the schema.
LOCK_CLASS = 0x544D5243  # "TMRC"
SCHEMA_LOCK_ID = 0

_UPGRADES: dict[int, tuple[str, ...]] = {
    1: (
        """CREATE TABLE tensormesh_workspaces (
            id serial PRIMARY KEY,
            name text NOT NULL UNIQUE,
            document bytea,
            created_at timestamptz NOT NULL DEFAULT now())""",
        """CREATE TABLE tensormesh_journal (
            workspace_id integer NOT NULL REFERENCES tensormesh_workspaces(id),
            seq bigserial,
            record text NOT NULL,
            PRIMARY KEY (workspace_id, seq))""",
        """CREATE TABLE tensormesh_lock_holders (
            workspace_id integer PRIMARY KEY REFERENCES tensormesh_workspaces(id),
            command text NOT NULL,
            host text NOT NULL,
            pid integer NOT NULL,
            since timestamptz NOT NULL,
            backend_pid integer NOT NULL)""",
        """CREATE TABLE tensormesh_history (
            id bigserial PRIMARY KEY,
            workspace_id integer NOT NULL REFERENCES tensormesh_workspaces(id),
            at timestamptz NOT NULL DEFAULT now(),
            actor jsonb NOT NULL,
            command text NOT NULL,
            revision text,
            summary jsonb,
            outcomes jsonb NOT NULL)""",
        "CREATE INDEX tensormesh_history_by_workspace ON tensormesh_history (workspace_id, id)",
        # Append-only: the audit trail must not be rewritten, not even by this tool.
        """CREATE FUNCTION tensormesh_history_append_only() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'tensormesh_history is append-only'; END $$""",
        """CREATE TRIGGER tensormesh_history_append_only
            BEFORE UPDATE OR DELETE ON tensormesh_history
            FOR EACH ROW EXECUTE FUNCTION tensormesh_history_append_only()""",
    ),
}


def read_version(conn: Any) -> int | None:
    """The database's schema version; None when the tool never wrote to it."""
    exists = conn.execute("SELECT to_regclass('tensormesh_meta') IS NOT NULL").fetchone()[0]
    if not exists:
        return None
    row = conn.execute("SELECT value FROM tensormesh_meta WHERE key = 'schema_version'").fetchone()
    return None if row is None else int(row[0])


def check_version(version: int | None, where: str) -> None:
    if version is not None and version > SCHEMA_VERSION:
        raise StateError(
            f"the PostgreSQL state {where} has schema version {version}: it was written by a "
            f"newer tensormesh-reconciler (this one knows version {SCHEMA_VERSION}); upgrade"
        )


def ensure_schema(conn: Any, where: str) -> None:
    """Create or upgrade the tables to SCHEMA_VERSION; refuse a newer database."""
    version = read_version(conn)
    check_version(version, where)
    if version == SCHEMA_VERSION:
        return
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_CLASS, SCHEMA_LOCK_ID))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS tensormesh_meta (key text PRIMARY KEY, value text NOT NULL)"
        )
        version = read_version(conn) or 0  # again, under the lock: another run may have won
        check_version(version, where)
        for target in range(version + 1, SCHEMA_VERSION + 1):
            for statement in _UPGRADES[target]:
                conn.execute(statement)
        conn.execute(
            "INSERT INTO tensormesh_meta (key, value) VALUES ('schema_version', %s) "
            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            (str(SCHEMA_VERSION),),
        )


def ensure_workspace(conn: Any, name: str) -> int:
    """The workspace's id, creating its row on first use."""
    conn.execute(
        "INSERT INTO tensormesh_workspaces (name) VALUES (%s) ON CONFLICT (name) DO NOTHING",
        (name,),
    )
    return int(
        conn.execute("SELECT id FROM tensormesh_workspaces WHERE name = %s", (name,)).fetchone()[0]
    )


def find_workspace(conn: Any, name: str) -> int | None:
    row = conn.execute("SELECT id FROM tensormesh_workspaces WHERE name = %s", (name,)).fetchone()
    return None if row is None else int(row[0])
