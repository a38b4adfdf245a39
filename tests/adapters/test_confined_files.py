"""adapters.confined_files: the config repository's bounds, file kinds and size caps."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from reconciler.adapters import confined_files
from reconciler.adapters.confined_files import RefusedFile


def test_the_root_is_the_nearest_git_work_tree(tmp_path: Path) -> None:
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    deep = tmp_path / "repo" / "deploy" / "team"
    deep.mkdir(parents=True)
    assert confined_files.config_root(str(deep)) == str(tmp_path / "repo")


def test_a_git_file_marks_a_linked_worktree(tmp_path: Path) -> None:
    (tmp_path / "wt").mkdir()
    (tmp_path / "wt" / ".git").write_text("gitdir: /somewhere/.git/worktrees/wt\n")
    (tmp_path / "wt" / "m").mkdir()
    assert confined_files.config_root(str(tmp_path / "wt" / "m")) == str(tmp_path / "wt")


def test_outside_git_the_root_is_the_folder_itself(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    assert confined_files.config_root(str(tmp_path / "m")) == str(tmp_path / "m")


def test_relative_folders_follow_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("a/m", "b/m"):
        (tmp_path / name).mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "a")
    assert confined_files.config_root("m") == str(tmp_path / "a" / "m")
    monkeypatch.chdir(tmp_path / "b")
    assert confined_files.config_root("m") == str(tmp_path / "b" / "m")


@pytest.mark.parametrize(
    ("path", "inside"),
    [("/r", True), ("/r/a", True), ("/rx", False), ("/r/../x", False), ("/", False)],
)
def test_inside_means_below_the_root_not_a_prefix_of_its_name(path: str, inside: bool) -> None:
    assert confined_files.is_inside(os.path.normpath(path), "/r") is inside


def test_the_filesystem_root_contains_everything() -> None:
    assert confined_files.is_inside("/etc/passwd", "/")


def test_a_regular_file_inside_is_read(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"abc")
    (tmp_path / "link").symlink_to("f")  # a symlink staying inside is fine
    for name in ("f", "link"):
        assert confined_files.read_file(str(tmp_path / name), root=str(tmp_path), limit=3) == b"abc"


def test_limits_are_inclusive_and_checked_before_reading(tmp_path: Path) -> None:
    with open(tmp_path / "f", "wb") as handle:
        handle.truncate(1 << 40)  # 1 TiB, sparse: reading it whole would never end
    with pytest.raises(RefusedFile, match=r"1099511627776 bytes, over the limit of 10 bytes"):
        confined_files.read_file(str(tmp_path / "f"), root=str(tmp_path), limit=10)
    with pytest.raises(RefusedFile, match="over the limit"):
        confined_files.check_file(str(tmp_path / "f"), root=str(tmp_path), limit=10)


def test_a_file_whose_size_lies_is_read_only_up_to_the_limit() -> None:
    # /proc files report size 0 and hold more: the read itself stops at limit + 1.
    root = "/proc"
    data = confined_files.read_file("/proc/self/status", root=root, limit=1 << 20)
    assert data.startswith(b"Name:")
    with pytest.raises(RefusedFile, match="over the limit of 8 bytes"):
        confined_files.read_file("/proc/self/status", root=root, limit=8)


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "p")  # no writer: a plain open() would wait forever
    with pytest.raises(RefusedFile, match=r"FIFO \(named pipe\)"):
        confined_files.read_file(str(tmp_path / "p"), root=str(tmp_path), limit=10)
    with pytest.raises(RefusedFile, match="FIFO"):
        confined_files.check_file(str(tmp_path / "p"), root=str(tmp_path), limit=10)


def test_a_socket_and_a_folder_are_refused(tmp_path: Path) -> None:
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "s"))
    sock.close()
    (tmp_path / "d").mkdir()
    with pytest.raises(RefusedFile, match="a socket"):
        confined_files.read_file(str(tmp_path / "s"), root=str(tmp_path), limit=10)
    with pytest.raises(RefusedFile, match="a folder"):
        confined_files.read_file(str(tmp_path / "d"), root=str(tmp_path), limit=10)


def test_a_device_inside_the_root_is_refused() -> None:
    with pytest.raises(RefusedFile, match="a device"):
        confined_files.read_file("/dev/zero", root="/dev", limit=10)


@pytest.mark.parametrize("target", ["/dev/zero", "/proc/self/environ", "../outside"])
def test_paths_and_links_leading_out_are_refused(tmp_path: Path, target: str) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "outside").write_text("x")
    (root / "link").symlink_to(target)
    for path in (str(root / "link"), os.path.join(str(root), target)):
        with pytest.raises(RefusedFile, match="outside the config repository"):
            confined_files.read_file(path, root=str(root), limit=100)
        with pytest.raises(RefusedFile, match="outside the config repository"):
            confined_files.check_file(path, root=str(root), limit=100)


def test_a_missing_file_is_an_os_error_not_a_refusal(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        confined_files.check_file(str(tmp_path / "gone"), root=str(tmp_path), limit=10)
    with pytest.raises(FileNotFoundError):
        confined_files.read_file(str(tmp_path / "gone"), root=str(tmp_path), limit=10)


def test_the_resolver_agrees_with_realpath(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "real" / "sub").mkdir(parents=True)
    (tmp_path / "real" / "sub" / "f").write_text("x")
    (tmp_path / "dirlink").symlink_to("real")
    (tmp_path / "real" / "filelink").symlink_to("sub/f")
    (tmp_path / "real" / "dangling").symlink_to("nowhere")
    monkeypatch.chdir(tmp_path)
    resolver = confined_files.Resolver()
    for path in [
        "real/sub/f",
        "dirlink/sub/f",
        "dirlink/filelink",
        "real/dangling",
        "real/missing",
        "dirlink/../real/sub/f",
        "real/sub/..",
        "real/.",
        "dirlink/",
        "f",
        str(tmp_path / "dirlink" / "filelink"),
    ]:
        assert resolver.realpath(path) == os.path.realpath(path), path
        assert resolver.realpath(path) == os.path.realpath(path), path  # cached answer
