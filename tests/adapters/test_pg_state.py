"""The PostgreSQL store against a real server: durable records, group commit, locks per
workspace, schema versions, the append-only history, and the same store interface as files."""

from __future__ import annotations

import threading

import psycopg
import pytest

from reconciler.adapters import pg_connect, pg_schema, pg_state, state_file
from reconciler.adapters.state_store import StateStore, read_state
from reconciler.core.errors import StateError, StateLockedError
from reconciler.core.model import Action, Intent, RecordedEntry
from reconciler.core.record import JournalRecord
from reconciler.core.spec import spec_digest

pytestmark = pytest.mark.postgres
SPEC = {"modelPath": "org/model", "gpuType": "GPU_TYPE_H100", "gpuCount": 1}


def entry(name: str, model_id: str = "m-1") -> JournalRecord:
    return JournalRecord("entry", name, RecordedEntry(name, model_id, SPEC, spec_digest(SPEC)))


def intent(name: str) -> JournalRecord:
    return JournalRecord("intent", name, Intent(name, name, 1, Action.CREATE))


def journal_rows(url: str) -> int:
    with psycopg.connect(url) as conn:
        return int(conn.execute("SELECT count(*) FROM tensormesh_journal").fetchone()[0])


def test_an_intent_is_in_the_database_when_record_returns(pg_url: str) -> None:
    location = f"{pg_url}#default"
    with StateStore.open(location, command="apply") as store:
        store.ensure_on_disk()
        store.record(intent("a"))
        # Another session (another machine) sees it: committed, not only buffered.
        assert journal_rows(pg_url) == 1
        assert read_state(location).intents["a"].action == Action.CREATE
        store.record(entry("a", "m-9"), wait=False)
        store.flush()
        assert read_state(location).entries["a"].model_id == "m-9"
        assert store.commit() is True
    assert journal_rows(pg_url) == 0
    assert read_state(location).serial == 1


# Each journal row's write, with the synchronous_commit its transaction commits under.
COMMIT_PROBE = """
CREATE TABLE commit_probe (id serial, tg_op text, op text, setting text);
CREATE FUNCTION commit_probe() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO commit_probe (tg_op, op, setting)
    VALUES (TG_OP, NEW.record::jsonb->>'op', current_setting('synchronous_commit'));
    RETURN NULL;
END $$;
CREATE TRIGGER commit_probe AFTER INSERT OR UPDATE ON tensormesh_journal
    FOR EACH ROW EXECUTE FUNCTION commit_probe();
"""


def probed_commits(url: str) -> list[tuple[str, str, str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT tg_op, op, setting FROM commit_probe ORDER BY id")
        return [(tg_op, op, setting) for tg_op, op, setting in rows]


def test_a_returned_id_is_committed_without_waiting_for_the_disk_an_intent_waits(
    pg_url: str,
) -> None:
    location = f"{pg_url}#default"
    with StateStore.open(location, command="apply") as store:
        store.ensure_on_disk()
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(COMMIT_PROBE)
        store.record(intent("a"))
        store.record(entry("a", "m-9"), wait=False)
        # Committed when record returns (a kill of this process loses nothing) ...
        assert journal_rows(pg_url) == 2
        assert read_state(location).entries["a"].model_id == "m-9"
        assert probed_commits(pg_url) == [("INSERT", "intent", "on"), ("INSERT", "entry", "off")]
        # ... and flush() makes it durable: a synchronous commit flushes every earlier one.
        store.flush()
        assert probed_commits(pg_url)[2:] == [("UPDATE", "entry", "on")]
        assert store.commit() is True
    assert read_state(location).entries["a"].model_id == "m-9"


def test_an_intent_committed_along_with_an_id_still_waits_for_the_disk(pg_url: str) -> None:
    conn = pg_connect.connect(pg_url)
    try:
        pg_schema.ensure_schema(conn, "test")
        journal = pg_state.PgJournal(conn, pg_url, pg_schema.ensure_workspace(conn, "default"))
        conn.execute(COMMIT_PROBE)
        first = journal.write_many([intent("a")])
        second = journal.write_many([entry("b")], durable=False)
        journal.hand_over(second)  # one group: it takes the intent along
        assert journal.synced == second
        journal.sync(first)  # already on disk: no second commit
    finally:
        conn.close()
    assert probed_commits(pg_url) == [("INSERT", "intent", "on"), ("INSERT", "entry", "on")]


def test_under_concurrent_workers_no_intent_is_committed_without_the_disk(pg_url: str) -> None:
    location = f"{pg_url}#default"
    with StateStore.open(location, command="apply") as store:
        store.ensure_on_disk()
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(COMMIT_PROBE)

        def deploy(i: int) -> None:
            store.record(intent(f"e{i}"))
            store.record(entry(f"e{i}", f"m-{i}"), wait=False)

        threads = [threading.Thread(target=deploy, args=(i,)) for i in range(40)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert journal_rows(pg_url) == 80  # every ID committed before its thread moved on
        store.commit()
    written = probed_commits(pg_url)
    intents = [setting for tg_op, op, setting in written if (tg_op, op) == ("INSERT", "intent")]
    assert intents == ["on"] * 40
    assert len(read_state(location).entries) == 40


def test_a_row_keeps_quotes_backslashes_and_non_ascii_text_exactly(pg_url: str) -> None:
    location = f"{pg_url}#default"
    spec = {**SPEC, "modelPath": 'org/"quoted"\\back\nslash-\u00e9\u4e2d'}
    recorded = RecordedEntry("a", "m-1", spec, spec_digest(spec))
    with StateStore.open(location, command="apply") as store:
        store.ensure_on_disk()
        store.record_many([intent("a"), JournalRecord("entry", "a", recorded)])
    assert read_state(location).entries["a"] == recorded  # replayed from the rows


def test_a_crash_before_commit_loses_nothing(pg_url: str) -> None:
    location = f"{pg_url}#default"
    with pytest.raises(RuntimeError), StateStore.open(location, command="apply") as store:
        store.ensure_on_disk()
        store.record(entry("a", "m-7"))
        raise RuntimeError("crash")
    assert read_state(location).entries["a"].model_id == "m-7"
    with StateStore.open(location, command="apply") as store:
        assert store.state.entries["a"].model_id == "m-7"
        assert store.commit() is True
    assert journal_rows(pg_url) == 0


def test_concurrent_records_share_commits_and_all_land(pg_url: str) -> None:
    location = f"{pg_url}#default"
    with StateStore.open(location, command="apply") as store:
        store.ensure_on_disk()
        threads = [
            threading.Thread(target=store.record, args=(entry(f"e{i}", f"m-{i}"),))
            for i in range(40)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(store.state.entries) == 40
        store.commit()
    assert {n: e.model_id for n, e in read_state(location).entries.items()} == {
        f"e{i}": f"m-{i}" for i in range(40)
    }


def test_one_writer_per_workspace_and_workspaces_never_block_each_other(pg_url: str) -> None:
    with StateStore.open(f"{pg_url}#prod", command="apply"):
        with pytest.raises(StateLockedError) as caught:
            StateStore.open(f"{pg_url}#prod", command="apply", lock_timeout=0.2)
        message = str(caught.value)
        assert "locked by `apply` (pid" in message and "workspace prod" in message
        assert "pg-test-secret" not in message
        with StateStore.open(f"{pg_url}#staging", command="apply", lock_timeout=0):
            pass  # another workspace: its own key, free


def test_workspaces_hold_separate_states(pg_url: str) -> None:
    for workspace, model_id in (("a", "m-a"), ("b", "m-b")):
        with StateStore.open(f"{pg_url}#{workspace}", command="apply") as store:
            store.ensure_on_disk()
            store.record(entry("x", model_id))
            store.commit()
    assert read_state(f"{pg_url}#a").entries["x"].model_id == "m-a"
    assert read_state(f"{pg_url}#b").entries["x"].model_id == "m-b"
    assert read_state(f"{pg_url}#c").entries == {}


def test_the_document_is_the_state_files_bytes(pg_url: str) -> None:
    location = f"{pg_url}#default"
    with StateStore.open(location, command="apply") as store:
        store.ensure_on_disk()
        store.record(entry("a"))
        store.commit()
    state = read_state(location)
    with psycopg.connect(pg_url) as conn:
        document = bytes(conn.execute("SELECT document FROM tensormesh_workspaces").fetchone()[0])
    assert document == state_file.encode_state(state)


def test_a_newer_schema_is_refused(pg_url: str) -> None:
    location = f"{pg_url}#default"
    with StateStore.open(location, command="apply"):
        pass
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE tensormesh_meta SET value = '99' WHERE key = 'schema_version'")
    for attempt in (
        lambda: read_state(location),
        lambda: StateStore.open(location, command="apply"),
    ):
        with pytest.raises(StateError, match="schema version 99: it was written by a newer"):
            attempt()


def test_the_schema_is_created_once_under_concurrent_first_runs(pg_url: str) -> None:
    errors: list[BaseException] = []

    def first_run(workspace: str) -> None:
        try:
            with StateStore.open(f"{pg_url}#{workspace}", command="apply", lock_timeout=10):
                pass
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=first_run, args=(f"w{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    with psycopg.connect(pg_url) as conn:
        assert pg_schema.read_version(conn) == pg_schema.SCHEMA_VERSION


def test_history_is_append_only(pg_url: str) -> None:
    location = f"{pg_url}#default"
    with StateStore.open(location, command="state import") as store:
        store.ensure_on_disk()
        store.record(entry("a", "m-1"))
        store.commit()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        row = conn.execute("SELECT command, outcomes FROM tensormesh_history").fetchone()
        assert row[0] == "state import"
        assert row[1] == [{"name": "a", "result": "recorded", "modelId": "m-1"}]
        with pytest.raises(psycopg.Error, match="append-only"):
            conn.execute("DELETE FROM tensormesh_history")
        with pytest.raises(psycopg.Error, match="append-only"):
            conn.execute("UPDATE tensormesh_history SET command = 'x'")


def test_a_wrong_password_is_one_line_without_the_password(postgres_server) -> None:
    url = postgres_server.url(password="not-the-password-123")
    with pytest.raises(StateError) as caught:
        read_state(f"{url}#default")
    message = str(caught.value)
    assert "\n" not in message and "password authentication failed" in message
    assert "not-the-password-123" not in message and "***" in message


def test_the_revision_a_commit_records_is_kept_in_the_document_and_the_history(
    pg_url: str,
) -> None:
    location = f"{pg_url}#default"
    applied_from = "0123456789abcdef0123456789abcdef01234567"
    with StateStore.open(location, command="apply") as store:
        store.ensure_on_disk()
        store.note_run(revision=applied_from)
        store.record(entry("a", "m-1"))
        assert store.commit(revision=applied_from) is True
    assert read_state(location).revision == applied_from
    with StateStore.open(location, command="apply") as store:
        assert store.state.revision == applied_from
        store.record(entry("b", "m-2"))
        assert store.commit() is True  # no revision given: the state keeps its own
    assert read_state(location).revision == applied_from
    with psycopg.connect(pg_url) as conn:
        revisions = [row[0] for row in conn.execute("SELECT revision FROM tensormesh_history")]
    assert applied_from in revisions
