"""`state merge-driver BASE OURS THEIRS` through the CLI entry point, on files in tmp_path
(git's part is in tests/e2e/test_git_sharing.py)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from reconciler.adapters import state_file
from reconciler.cli import main
from tests.support.builders import desired, recorded, state

ALPHA = recorded(desired("alpha"), "m-a")
BETA = recorded(desired("beta"), "m-b")
GAMMA = recorded(desired("gamma"), "m-c")


def write(path: Path, *entries, serial: int = 1) -> str:  # type: ignore[no-untyped-def]
    state_file.save_state(path, replace(state(*entries), serial=serial))
    return str(path)


def test_merges_into_ours(tmp_path: Path) -> None:
    base = write(tmp_path / "base", ALPHA)
    ours = write(tmp_path / "ours", ALPHA, BETA, serial=2)
    theirs = write(tmp_path / "theirs", ALPHA, GAMMA, serial=4)
    assert main(["state", "merge-driver", base, ours, theirs]) == 0
    merged = json.loads(Path(ours).read_text())
    assert sorted(merged["entries"]) == ["alpha", "beta", "gamma"]
    assert merged["serial"] == 5


def test_an_empty_base_is_no_base(tmp_path: Path) -> None:
    (tmp_path / "base").write_text("")
    ours = write(tmp_path / "ours", ALPHA)
    theirs = write(tmp_path / "theirs", BETA)
    assert main(["state", "merge-driver", str(tmp_path / "base"), ours, theirs]) == 0
    assert sorted(json.loads(Path(ours).read_text())["entries"]) == ["alpha", "beta"]


def test_a_conflict_names_the_entry_and_leaves_ours_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = write(tmp_path / "base", ALPHA)
    ours = write(tmp_path / "ours", replace(ALPHA, model_id="m-a2"), BETA)
    before = Path(ours).read_bytes()
    theirs = write(tmp_path / "theirs", replace(ALPHA, model_id="m-a3"))
    assert main(["state", "merge-driver", base, ours, theirs]) == 1
    err = capsys.readouterr().err
    assert "entry alpha" in err and "m-a2" in err and "m-a3" in err
    assert Path(ours).read_bytes() == before


def test_a_side_with_conflict_markers_is_refused_cleanly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = write(tmp_path / "base", ALPHA)
    ours = write(tmp_path / "ours", ALPHA)
    (tmp_path / "theirs").write_text("<<<<<<< HEAD\n{}\n=======\n{}\n>>>>>>> x\n")
    assert main(["state", "merge-driver", base, ours, str(tmp_path / "theirs")]) == 1
    err = capsys.readouterr().err
    assert "(their side of the merge) holds a git merge conflict marker" in err
    assert "Traceback" not in err
