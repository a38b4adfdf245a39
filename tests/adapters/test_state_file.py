"""The state file: golden bytes, round trips, every refusal, atomic writes, journal replay."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from reconciler.adapters import journal, state_file
from reconciler.core import record
from reconciler.core.errors import StateError
from reconciler.core.model import Action, Intent, RecordedEntry, RecordedSecret, State
from reconciler.core.record import JournalRecord
from reconciler.core.spec import spec_digest

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "state.v1.json"


def sample_state() -> State:
    chat = {
        "modelPath": "meta-llama/Llama-3.1-8B-Instruct",
        "gpuType": "GPU_TYPE_H100",
        "gpuCount": 1,
        "infra": {"cloudProvider": "CLOUD_PROVIDER_NEBIUS", "nebiusRegion": "NEBIUS_REGION_EU"},
        "kvCacheEnabled": True,
    }
    qwen = {
        "modelPath": "Qwen/Qwen2.5-32B-Instruct",
        "gpuType": "GPU_TYPE_A100",
        "gpuCount": 2,
        "infra": {"cloudProvider": "CLOUD_PROVIDER_LAMBDA"},
    }
    state = record.new_state(lineage="6f1c2b7e-3d4a-4c5b-8e9f-0a1b2c3d4e5f", salt="5a" * 32)
    state = record.record_entry(
        state,
        RecordedEntry(
            name="qwen-32b",
            model_id="7d9e0f1a-2b3c-4d5e-8f60-718293a4b5c6",
            spec=qwen,
            spec_digest=spec_digest(qwen),
            status="MODEL_STATUS_INIT",
        ),
    )
    state = record.record_entry(
        state,
        RecordedEntry(
            name="llama-8b-chat",
            model_id="1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
            spec=chat,
            spec_digest=spec_digest(chat),
            deployment_id="dep-0001",
            status="MODEL_STATUS_UP",
            user_id="3f0c6d2e-1111-4222-8333-944455556666",
            secrets={
                "hfToken": RecordedSecret(
                    ref={"fromEnv": "HF_TOKEN"}, fingerprint="hmac-sha256:" + "0f" * 32
                ),
                "apiKey": RecordedSecret(ref={"fromFile": "secrets/api-key"}, fingerprint=None),
            },
        ),
    )
    state = record.record_intent(
        state, Intent(name="mistral-7b", model_name="mistral-7b", attempt=1, action=Action.CREATE)
    )
    return State(
        lineage=state.lineage,
        salt=state.salt,
        serial=3,
        entries=state.entries,
        intents=state.intents,
    )


def write_json(path: Path, doc: Any) -> bytes:
    data = (json.dumps(doc, indent=2) + "\n").encode()
    path.write_bytes(data)
    return data


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name)


# -- format --------------------------------------------------------------------------


def test_golden_state_file() -> None:
    data = state_file.encode_state(sample_state())
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_bytes(data)
    assert data == GOLDEN.read_bytes(), "state format changed; review and run `make golden`"


def test_golden_file_loads_back_to_the_same_state() -> None:
    assert state_file.read_document(GOLDEN) == sample_state()


def test_round_trip_is_byte_identical(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    state_file.save_state(path, sample_state())
    first = path.read_bytes()
    state_file.save_state(path, state_file.read_state(path))
    assert path.read_bytes() == first
    assert first.endswith(b"}\n")
    assert leftovers(tmp_path) == []


def test_the_revision_round_trips_and_a_file_without_one_reads_as_none(tmp_path: Path) -> None:
    assert state_file.read_document(GOLDEN).revision is None
    path = tmp_path / "s.json"
    revision = "9fceb02d0ae598e95dc970b74767f19372d61af8"
    state_file.save_state(path, replace(sample_state(), revision=revision))
    assert json.loads(path.read_text())["revision"] == revision
    assert state_file.read_document(path).revision == revision


def test_missing_file_is_a_fresh_state(tmp_path: Path) -> None:
    one = state_file.read_state(tmp_path / "none.json")
    two = state_file.read_state(tmp_path / "none.json")
    assert (one.serial, dict(one.entries), len(one.salt)) == (0, {}, 64)
    assert one.lineage != two.lineage and one.salt != two.salt
    assert not (tmp_path / "none.json").exists()  # reading never creates the file


def test_save_keeps_the_file_mode(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    state_file.save_state(path, sample_state())
    path.chmod(0o600)
    state_file.save_state(path, replace_serial(sample_state(), 4))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["serial"] == 4


def replace_serial(state: State, serial: int) -> State:
    return State(state.lineage, state.salt, serial, state.entries, state.intents)


# -- refusals: one clear message, the file untouched -----------------------------------


def golden_doc() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(GOLDEN.read_text())
    return doc


def case_wrong_type(doc: dict[str, Any]) -> None:
    doc["entries"]["qwen-32b"]["modelId"] = 42


def case_unknown_field(doc: dict[str, Any]) -> None:
    doc["extra"] = {"x": 1}


def case_secret_value_in_spec(doc: dict[str, Any]) -> None:
    doc["entries"]["qwen-32b"]["spec"]["hfToken"] = "hf_SUPERSECRETVALUE"


def case_missing_field(doc: dict[str, Any]) -> None:
    del doc["salt"]


def case_bad_fingerprint(doc: dict[str, Any]) -> None:
    doc["entries"]["llama-8b-chat"]["secrets"]["hfToken"]["fingerprint"] = "plain"


def case_bad_revision(doc: dict[str, Any]) -> None:
    doc["revision"] = "main"  # a branch name moves; only a commit id says what was applied


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (case_wrong_type, r"\$\.entries\.qwen-32b\.modelId: must be of type string, not number"),
        (case_unknown_field, r"\$: unexpected field\(s\): 'extra' was unexpected"),
        (case_secret_value_in_spec, r"\$\.entries\.qwen-32b\.spec: .*secret values"),
        (case_missing_field, r"\$: 'salt' is a required property"),
        (case_bad_fingerprint, r"\$\.entries\.llama-8b-chat\.secrets\.hfToken\.fingerprint"),
        (case_bad_revision, r"\$\.revision"),
    ],
)
def test_schema_violations_name_the_path(tmp_path: Path, mutate: Any, expected: str) -> None:
    doc = golden_doc()
    mutate(doc)
    path = tmp_path / "s.json"
    before = write_json(path, doc)
    with pytest.raises(StateError, match=expected) as info:
        state_file.read_state(path)
    message = str(info.value)
    assert str(path) in message and "SUPERSECRET" not in message
    assert "{'" not in message and "modelPath" not in message  # no object dumps
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"formatVersion": 1,, }', r"not valid JSON: .* at line 1 column 21"),
        (b'{\n  "formatVersion": 1,\n  "lineage": "6f1c', r"truncated: .* line 3"),
        (b"", r"is empty"),
        (b"\xff\xfe", r"not UTF-8"),
        (b"[1, 2]", r"\$: must be of type object, not array"),
        (
            b'{"formatVersion": 2, "anything": true}',
            r"formatVersion 2: it was written by a newer tensormesh-reconciler .*upgrade",
        ),
    ],
)
def test_unreadable_content_is_refused(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "s.json"
    path.write_bytes(content)
    with pytest.raises(StateError, match=expected):
        state_file.read_state(path)
    assert path.read_bytes() == content


def test_entry_key_must_equal_its_name(tmp_path: Path) -> None:
    doc = golden_doc()
    doc["entries"]["other-name"] = doc["entries"].pop("qwen-32b")
    path = tmp_path / "s.json"
    before = write_json(path, doc)
    with pytest.raises(StateError, match=r"\$\.entries\.other-name\.name: the key 'other-name'"):
        state_file.read_state(path)
    assert path.read_bytes() == before


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StateError, match="is a directory, not a file"):
        state_file.read_state(tmp_path)
    with pytest.raises(StateError, match="is a directory"):
        state_file.save_state(tmp_path, sample_state())


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file regardless of its mode")
def test_unreadable_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    state_file.save_state(path, sample_state())
    path.chmod(0)
    with pytest.raises(StateError, match="permission denied"):
        state_file.read_state(path)


# -- write failures: old file intact, no temp file left ---------------------------------


def test_write_into_a_path_under_a_file_fails_cleanly(tmp_path: Path) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder")
    with pytest.raises(StateError, match=r"cannot write state file .*afile/s\.json: a part of"):
        state_file.save_state(blocker / "s.json", sample_state())
    assert blocker.read_text() == "not a folder"


@contextlib.contextmanager
def tmpfs(folder: Path, size: str) -> Iterator[Path]:
    """A real small file system, so ENOSPC and EROFS come from the kernel even as root."""
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True, check=False)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_read_only_file_system_leaves_the_old_file(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "ro", "1m") as folder:
        path = folder / "s.json"
        state_file.save_state(path, sample_state())
        before = path.read_bytes()
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        with pytest.raises(StateError, match="the file system is read-only") as info:
            state_file.save_state(path, replace_serial(sample_state(), 9))
        assert str(path) in str(info.value)
        assert path.read_bytes() == before
        assert leftovers(folder) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_full_disk_leaves_the_old_file_and_no_temp_file(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "full", "64k") as folder:
        path = folder / "s.json"
        state_file.save_state(path, sample_state())
        before = path.read_bytes()
        with contextlib.suppress(OSError), (folder / "filler").open("wb") as filler:
            while True:
                filler.write(b"x" * 4096)
                filler.flush()
        with pytest.raises(StateError, match="the disk is full"):
            state_file.save_state(path, replace_serial(sample_state(), 9))
        assert path.read_bytes() == before
        assert leftovers(folder) == []


# -- journal replay on load -------------------------------------------------------------


def test_journal_is_replayed_on_top_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    state_file.save_state(path, sample_state())
    j = journal.Journal(journal.journal_path(path))
    j.append(JournalRecord("forget", "qwen-32b"))
    j.append(JournalRecord("status", "llama-8b-chat", "MODEL_STATUS_FAILED"))
    j.close()
    loaded = state_file.read_state(path)
    assert set(loaded.entries) == {"llama-8b-chat"}
    assert loaded.entries["llama-8b-chat"].status == "MODEL_STATUS_FAILED"
    assert state_file.read_document(path) == sample_state()  # the file alone is unchanged


def test_torn_last_journal_line_is_ignored_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "s.json"
    state_file.save_state(path, sample_state())
    j = journal.Journal(journal.journal_path(path))
    j.append(JournalRecord("forget", "qwen-32b"))
    j.close()
    full = JournalRecord("forget", "llama-8b-chat").to_json()
    with journal.journal_path(path).open("ab") as handle:
        handle.write(json.dumps(full).encode()[:-7])  # a crash mid-write
    with caplog.at_level(logging.WARNING, logger="reconciler.state"):
        loaded = state_file.read_state(path)
    assert set(loaded.entries) == {"llama-8b-chat"}
    assert "torn last line 2" in caplog.text


def test_corrupt_journal_line_before_the_last_raises(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    state_file.save_state(path, sample_state())
    journal.journal_path(path).write_text(
        '{"op":"forget","name":"qwen-32b"}\ngarbage\n{"op":"close","name":"a"}\n'
    )
    with pytest.raises(StateError, match=r"journal .* line 2 is corrupt"):
        state_file.read_state(path)


def test_journal_record_violating_the_schema_raises(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    journal.journal_path(path).write_text(
        '{"op":"status","name":"a","payload":7}\n{"op":"close","name":"a"}\n'
    )
    with pytest.raises(StateError, match=r"line 1 is corrupt: \$\.payload"):
        state_file.read_state(path)


# -- second week: failed deploys, conflict markers --------------------------------------


def test_a_failed_deploy_round_trips_through_the_file_and_the_journal(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    failed = record.record_failure(sample_state(), "qwen-32b", "model became MODEL_STATUS_FAILED")
    state_file.save_state(path, failed)
    assert state_file.read_document(path) == failed  # the schema accepts the new field
    line = json.dumps(record.JournalRecord("taint", "qwen-32b", "boom").to_json())
    journal.journal_path(path).write_text(line + "\n")
    assert state_file.read_state(path).entries["qwen-32b"].failed == "boom"


def test_git_conflict_markers_are_recognised_with_the_way_out(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    state_file.save_state(path, sample_state())
    text = path.read_text()
    path.write_text(f"<<<<<<< HEAD\n{text}=======\n{text}>>>>>>> other-branch\n")
    with pytest.raises(StateError, match="git conflict markers") as info:
        state_file.read_document(path)
    assert "state merge-driver" in str(info.value) and "--theirs" in str(info.value)
