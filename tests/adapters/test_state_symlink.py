"""A symlinked state file is followed: lock, journal and atomic write act beside its target,
and the link stays a link. Real symlinks in tmp_path, real flocks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from reconciler.adapters import state_file, state_lock
from reconciler.adapters.state_store import StateStore, read_state
from reconciler.cli import main
from reconciler.core import record
from reconciler.core.errors import StateError, StateLockedError
from reconciler.core.model import RecordedEntry
from reconciler.core.spec import spec_digest

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "state.v1.json"
SPEC = {"modelPath": "org/model", "gpuType": "GPU_TYPE_H100", "gpuCount": 1}


def entry(name: str) -> RecordedEntry:
    return RecordedEntry(
        name=name, model_id=f"m-{name}", spec=SPEC, spec_digest=spec_digest(SPEC), status="UP"
    )


@pytest.fixture
def linked(tmp_path: Path) -> tuple[Path, Path]:
    """(link, target): `links/state.json` -> `../real/state.json` (relative, as in a repo)."""
    (tmp_path / "real").mkdir()
    (tmp_path / "links").mkdir()
    target = tmp_path / "real" / "state.json"
    target.write_bytes(GOLDEN.read_bytes())
    link = tmp_path / "links" / "state.json"
    link.symlink_to(Path("..") / "real" / "state.json")
    return link, target


def test_the_store_locks_journals_and_writes_beside_the_target(linked: tuple[Path, Path]) -> None:
    link, target = linked
    with StateStore.open(link, command="apply") as store:
        assert store.path.resolve() == target.resolve()
        assert Path(f"{target}.lock").exists() and Path(f"{target}.lock.info").exists()
        assert sorted(p.name for p in link.parent.iterdir()) == ["state.json"]
        store.record(record.JournalRecord(op="entry", name="new-one", payload=entry("new-one")))
        assert Path(f"{target}.journal").exists()
        assert store.commit()
    assert link.is_symlink() and os.readlink(link) == os.path.join("..", "real", "state.json")
    assert "new-one" in json.loads(target.read_text())["entries"]
    assert sorted(p.name for p in link.parent.iterdir()) == ["state.json"]
    assert not Path(f"{target}.journal").exists()


def test_the_link_and_its_target_share_one_lock(linked: tuple[Path, Path]) -> None:
    link, target = linked
    locked = pytest.raises(StateLockedError, match="is locked by `apply`")
    with StateStore.open(target, command="apply"), locked:
        StateStore.open(link, command="apply", lock_timeout=0)
    with StateStore.open(link, command="apply"), pytest.raises(StateLockedError):
        StateStore.open(target, command="apply", lock_timeout=0)


def test_a_journal_beside_the_target_is_replayed_when_read_through_the_link(
    linked: tuple[Path, Path],
) -> None:
    link, target = linked
    with StateStore.open(link, command="apply") as store:
        store.record(record.JournalRecord(op="entry", name="crashed", payload=entry("crashed")))
        # no commit: as if the run died here
    assert "crashed" in read_state(link).entries
    assert "crashed" in state_file.read_state(target).entries


def test_a_dangling_link_gets_its_target_created(tmp_path: Path) -> None:
    link = tmp_path / "state.json"
    link.symlink_to("elsewhere.json")
    with StateStore.open(link, command="apply") as store:
        store.record(record.JournalRecord(op="entry", name="first", payload=entry("first")))
        store.commit()
    assert link.is_symlink()
    assert "first" in json.loads((tmp_path / "elsewhere.json").read_text())["entries"]


def test_a_chain_of_links_is_followed_to_the_end(linked: tuple[Path, Path]) -> None:
    link, target = linked
    second = link.parent / "second.json"
    second.symlink_to("state.json")
    assert state_file.resolve_path(second) == link.parent / ".." / "real" / "state.json"
    with StateStore.open(second, command="apply") as store:
        store.record(record.JournalRecord(op="forget", name="qwen-32b"))
        store.commit()
    assert second.is_symlink() and link.is_symlink()
    assert "qwen-32b" not in json.loads(target.read_text())["entries"]


def test_a_symlink_loop_is_one_state_error(tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.symlink_to("b.json")
    b.symlink_to("a.json")
    with pytest.raises(StateError, match="symlink loop"):
        StateStore.open(a, command="apply")
    with pytest.raises(StateError, match="symlink loop"):
        read_state(a)


def test_state_commands_through_a_link(
    linked: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    link, target = linked
    assert main(["state", "rm", "qwen-32b", "--state", str(link)]) == 0
    capsys.readouterr()
    assert link.is_symlink()
    assert "qwen-32b" not in json.loads(target.read_text())["entries"]
    assert main(["state", "list", "--state", str(link), "--output", "json"]) == 0
    names = [row["name"] for row in json.loads(capsys.readouterr().out)]
    assert names == ["llama-8b-chat"]
    # A lock left on the target is what `state unlock` through the link breaks.
    held = state_lock.StateLock(target, command="apply")
    held.acquire()
    try:
        assert main(["state", "unlock", "--state", str(link)]) == 0
        assert not Path(f"{target}.lock").exists()
    finally:
        held.release()
    assert sorted(p.name for p in link.parent.iterdir()) == ["state.json"]
