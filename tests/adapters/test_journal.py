"""The journal: one fsynced line per record, O(N) bytes in total, torn tails survived."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from reconciler.adapters import journal
from reconciler.adapters.state_store import StateStore
from reconciler.core.model import RecordedEntry
from reconciler.core.record import JournalRecord
from reconciler.core.spec import canonical_json, spec_digest

SPEC = {"modelPath": "meta-llama/Llama-3.1-8B-Instruct", "gpuType": "GPU_TYPE_H100", "gpuCount": 1}


def entry_record(i: int) -> JournalRecord:
    entry = RecordedEntry(
        name=f"model-{i:05d}",
        model_id=f"00000000-0000-4000-8000-{i:012d}",
        spec=SPEC,
        spec_digest=spec_digest(SPEC),
        status="MODEL_STATUS_INIT",
    )
    return JournalRecord("entry", entry.name, entry)


def json_line(rec: JournalRecord) -> bytes:
    return (canonical_json(rec.to_json()) + "\n").encode()


def line_size(rec: JournalRecord) -> int:
    return len(json_line(rec))


def test_append_writes_one_line_per_record_and_reads_back(tmp_path: Path) -> None:
    j = journal.Journal(tmp_path / "s.json.journal")
    records = [entry_record(1), JournalRecord("status", "model-00001", "UP"), entry_record(2)]
    for rec in records:
        j.append(rec)
    j.close()
    assert (tmp_path / "s.json.journal").read_bytes().count(b"\n") == 3
    assert journal.read_journal(tmp_path / "s.json.journal") == records
    assert journal.Journal.read(tmp_path / "s.json.journal") == records


def test_bytes_written_are_linear_in_the_number_of_records(tmp_path: Path) -> None:
    n = 2000
    j = journal.Journal(tmp_path / "s.json.journal")
    largest = 0
    for i in range(n):
        before = j.bytes_written
        j.append(entry_record(i))
        # Each append costs its own record, never the records before it.
        assert j.bytes_written - before == line_size(entry_record(i))
        largest = max(largest, j.bytes_written - before)
    j.close()
    assert j.records_written == n
    assert j.bytes_written == (tmp_path / "s.json.journal").stat().st_size
    assert j.bytes_written <= n * largest


def test_the_state_file_is_not_rewritten_per_record(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    with StateStore.open(path, command="test") as store:
        for i in range(200):
            store.record(entry_record(i))
            assert not path.exists()  # only the journal grows until commit
        journal_bytes = store.journal_bytes_written
        assert store.commit()
    assert journal_bytes == sum(line_size(entry_record(i)) for i in range(200))
    assert not journal.journal_path(path).exists()
    assert len(json.loads(path.read_text())["entries"]) == 200


def test_append_after_a_torn_tail_starts_a_clean_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "s.json.journal"
    j = journal.Journal(path)
    j.append(entry_record(1))
    j.close()
    with path.open("ab") as handle:
        handle.write(json_line(entry_record(2))[:25])  # crash mid-write
    j = journal.Journal(path)
    j.append(entry_record(3))
    j.close()
    with caplog.at_level(logging.WARNING, logger="reconciler.state"):
        assert journal.read_journal(path) == [entry_record(1), entry_record(3)]
    assert "torn" not in caplog.text  # the fragment was cut, not left mid-file


def test_a_torn_only_line_is_cut_entirely(tmp_path: Path) -> None:
    path = tmp_path / "s.json.journal"
    path.write_bytes(b'{"op":"clo')
    j = journal.Journal(path)
    j.append(JournalRecord("close", "a"))
    j.close()
    assert path.read_bytes() == b'{"name":"a","op":"close"}\n'


def test_missing_journal_reads_as_empty_and_remove_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "s.json.journal"
    assert journal.read_journal(path) == []
    j = journal.Journal(path)
    j.append(JournalRecord("close", "a"))
    j.remove()
    j.remove()
    assert not path.exists()
