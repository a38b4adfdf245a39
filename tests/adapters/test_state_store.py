"""The state store: locked open, durable records, commit with serial + 1, crash recovery."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from reconciler.adapters import journal, state_file
from reconciler.adapters.state_store import StateStore, read_state
from reconciler.core.errors import StateError, StateLockedError
from reconciler.core.model import Action, Intent, RecordedEntry
from reconciler.core.record import JournalRecord
from reconciler.core.spec import spec_digest

SPEC = {"modelPath": "org/model", "gpuType": "GPU_TYPE_H100", "gpuCount": 1}


def entry(name: str, model_id: str = "m-1") -> JournalRecord:
    recorded = RecordedEntry(name, model_id, SPEC, spec_digest(SPEC))
    return JournalRecord("entry", name, recorded)


def test_commit_saves_a_changed_state_with_the_next_serial(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    with StateStore.open(path, command="apply") as store:
        store.record(JournalRecord("intent", "a", Intent("a", "a", 1, Action.CREATE)))
        store.record(entry("a"))
        assert set(store.state.entries) == {"a"} and not store.state.intents
        assert store.commit() is True
        assert store.commit() is False  # nothing new since
    saved = json.loads(path.read_text())
    assert (saved["serial"], list(saved["entries"])) == (1, ["a"])
    assert not journal.journal_path(path).exists()
    with StateStore.open(path, command="apply") as store:
        store.record(JournalRecord("status", "a", "MODEL_STATUS_UP"))
        assert store.commit() is True
    assert json.loads(path.read_text())["serial"] == 2


def test_an_unchanged_state_is_not_written(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    with StateStore.open(path, command="apply") as store:
        store.record(JournalRecord("intent", "a", Intent("a", "a", 1, Action.CREATE)))
        store.record(JournalRecord("close", "a"))
        assert store.commit() is False
    assert not path.exists()
    assert not journal.journal_path(path).exists()


def test_a_crash_before_commit_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    with pytest.raises(RuntimeError), StateStore.open(path, command="apply") as store:
        store.record(entry("a", "m-7"))
        raise RuntimeError("crash")
    assert journal.journal_path(path).exists()
    assert read_state(path).entries["a"].model_id == "m-7"  # plan sees it without a lock
    with StateStore.open(path, command="apply") as store:
        assert store.changed
        assert store.commit() is True
    assert state_file.read_document(path).entries["a"].model_id == "m-7"


def test_records_from_many_threads_all_land(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    with StateStore.open(path, command="apply") as store:

        def work(worker: int) -> None:
            for i in range(25):
                store.record(entry(f"w{worker}-{i}", f"m-{worker}-{i}"))

        threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(store.state.entries) == 200
        store.commit()
    assert len(state_file.read_document(path).entries) == 200
    assert journal.read_journal(journal.journal_path(path)) == []


def test_a_second_store_on_the_same_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    with (
        StateStore.open(path, command="apply"),
        pytest.raises(StateLockedError, match="locked by `apply`"),
    ):
        StateStore.open(path, command="reconcile", lock_timeout=0)
    StateStore.open(path, command="reconcile", lock_timeout=0).close()


def test_a_corrupt_state_file_releases_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text("{")
    with pytest.raises(StateError, match="truncated"):
        StateStore.open(path, command="apply")
    assert not (tmp_path / "s.json.lock.info").exists()


def test_a_failed_save_keeps_the_journal(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    with StateStore.open(path, command="apply") as store:
        store.record(entry("a"))
        path.mkdir()  # something replaced the state file with a folder
        with pytest.raises(StateError, match="cannot write state file"):
            store.commit()
    assert journal.journal_path(path).exists()


def test_an_unwaited_record_counts_only_once_a_later_fsync_covers_it(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    with StateStore.open(path, command="apply") as store:
        store.record(JournalRecord("intent", "a", Intent("a", "a", 1, Action.CREATE)))
        store.record(entry("a", "m-1"), wait=False)
        # Written at once (a crash of the process keeps it: the next load replays it) ...
        assert [r.name for r in journal.read_journal(journal.journal_path(path))] == ["a", "a"]
        # ... but not claimed in memory until an fsync covers it.
        assert "a" not in store._entries
        store.record(JournalRecord("intent", "b", Intent("b", "b", 1, Action.CREATE)))
        assert store._entries["a"].model_id == "m-1"  # b's fsync covered a's line
        assert not store._pending


def test_flush_makes_unwaited_records_durable_and_state_and_commit_include_them(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.json"
    with StateStore.open(path, command="apply") as store:
        store.record(JournalRecord("intent", "a", Intent("a", "a", 1, Action.CREATE)))
        store.record(entry("a", "m-1"), wait=False)
        assert store._journal.synced < store._journal.records_written
        store.flush()
        assert store._journal.synced == store._journal.records_written
        assert store._entries["a"].model_id == "m-1" and not store._pending
        store.record(entry("b", "m-2"), wait=False)
        assert set(store.state.entries) == {"a", "b"}  # a snapshot is of durable records
        store.record(entry("c", "m-3"), wait=False)
        assert store.commit() is True
    assert set(json.loads(path.read_text())["entries"]) == {"a", "b", "c"}


def test_an_unwaited_record_left_at_close_is_replayed_by_the_next_run(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    with pytest.raises(RuntimeError), StateStore.open(path, command="apply") as store:
        store.record(JournalRecord("intent", "a", Intent("a", "a", 1, Action.CREATE)))
        store.record(entry("a", "m-9"), wait=False)
        raise RuntimeError("interrupted before commit")
    state = read_state(path)
    assert state.entries["a"].model_id == "m-9" and not state.intents


def test_unwaited_records_from_many_threads_are_all_applied(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    names = [f"m{i:03d}" for i in range(200)]

    def work(chunk: list[str]) -> None:
        for name in chunk:
            store.record(JournalRecord("intent", name, Intent(name, name, 1, Action.CREATE)))
            store.record(entry(name, f"id-{name}"), wait=False)

    with StateStore.open(path, command="apply") as store:
        threads = [threading.Thread(target=work, args=(names[i::8],)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        store.flush()
        assert {n: e.model_id for n, e in store.state.entries.items()} == {
            n: f"id-{n}" for n in names
        }
        assert not store.state.intents
