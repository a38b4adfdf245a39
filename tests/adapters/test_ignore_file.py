"""`.tensormeshignore`: globs of live models that are not this repository's business."""

from __future__ import annotations

from pathlib import Path

from reconciler.adapters.ignore_file import IGNORE_FILE, read_ignore_globs


def test_globs_are_read_from_the_manifests_folder_once(tmp_path: Path) -> None:
    (tmp_path / IGNORE_FILE).write_text("# other teams\nteam-b-*\n\n  legacy-?  \n")
    (tmp_path / "a.yaml").write_text("")
    assert read_ignore_globs([str(tmp_path), str(tmp_path / "a.yaml")]) == ("team-b-*", "legacy-?")


def test_no_file_means_no_globs(tmp_path: Path) -> None:
    assert read_ignore_globs([str(tmp_path)]) == ()
