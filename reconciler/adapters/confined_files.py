"""Read manifest and secret files only inside the config repository, bounded, never blocking.

A pull request controls every byte of the config repository, symlinks included: a file
may point at /proc/self/environ, /dev/zero or a FIFO. So a path is resolved first, must
stay inside the tree, must be a regular file under a size cap, and is read at most that
far. Refusals are `RefusedFile` with a reason that never quotes the file's content.
"""

from __future__ import annotations

import functools
import os
import stat

MAX_MANIFEST_BYTES = 8 * 1024 * 1024
MAX_SECRET_BYTES = 64 * 1024

# O_NONBLOCK: opening a FIFO for reading waits for a writer without it.
# O_NOFOLLOW: the path was just resolved; a symlink swapped in since is refused.
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class RefusedFile(Exception):
    """A file this program will not read; the message says why, never what it holds."""


class Resolver:
    """os.path.realpath for many files of few folders, each folder resolved once.

    Lives for one pass over a manifest set (links may change between passes). A file's
    real path is its folder's plus its name unless the name is a symlink; the lstat
    that tells is kept, and is the file's stat too.
    """

    __slots__ = ("_folders", "_paths")

    def __init__(self) -> None:
        self._folders: dict[str, str] = {}
        self._paths: dict[str, tuple[str, os.stat_result | None]] = {}

    def realpath(self, path: str) -> str:
        return self.resolve(path)[0]

    def resolve(self, path: str) -> tuple[str, os.stat_result | None]:
        """(real path, its stat when already known)."""
        known = self._paths.get(path)
        if known is not None:
            return known
        folder, name = os.path.split(path)
        real: str
        info: os.stat_result | None = None
        if name in ("", ".", ".."):
            real = os.path.realpath(path)
        else:
            real_folder = self._folders.get(folder)
            if real_folder is None:
                real_folder = self._folders[folder] = os.path.realpath(folder or ".")
            real = os.path.join(real_folder, name)
            try:
                info = os.lstat(real)
            except OSError:
                info = None  # missing: its real path is the folder's plus its name
            if info is not None and stat.S_ISLNK(info.st_mode):
                real, info = os.path.realpath(real), None
        self._paths[path] = (real, info)
        return real, info


def config_root(folder: str, resolver: Resolver | None = None) -> str:
    """The git work tree holding `folder` (nearest ancestor with a `.git` entry), else
    `folder` itself; absolute, symlinks resolved. No git process: one lstat per level."""
    # Cached by the real path: a relative `folder` means another place after a chdir.
    return _root_of((resolver or Resolver()).realpath(folder))


@functools.cache
def _root_of(start: str) -> str:
    current = start
    while True:
        if os.path.lexists(os.path.join(current, ".git")):
            return current
        parent = os.path.dirname(current)
        if parent == current:
            return start
        current = parent


def is_inside(path: str, root: str) -> bool:
    """Whether the resolved `path` is `root` or below it."""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def resolve_inside(
    path: str, root: str, resolver: Resolver | None = None
) -> tuple[str, os.stat_result]:
    """(`path` with every symlink resolved, its stat); RefusedFile when it leaves `root`.

    Raises OSError (FileNotFoundError...) when the resolved file cannot be looked at.
    """
    real, info = (resolver or Resolver()).resolve(path)
    if not is_inside(real, root):
        # The target is named only when a symlink led there: a path as typed might be a
        # pasted secret, and the file:line of the message already points at it.
        typed = os.path.abspath(path)
        where = "outside" if real == typed else f"through a symlink to {real}, outside"
        raise RefusedFile(
            f"it is {where} the config repository {root}; "
            "keep it inside the repository (no absolute paths, '..' or symlinks leading out)"
        )
    return real, os.stat(real) if info is None else info


def describe_kind(mode: int) -> str | None:
    """What a non-regular file is, in words; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _check_stat(info: os.stat_result, limit: int) -> None:
    kind = describe_kind(info.st_mode)
    if kind is not None:
        raise RefusedFile(f"it is {kind}; only regular files are read")
    if info.st_size > limit:
        raise RefusedFile(f"it is {info.st_size} bytes, over the limit of {limit} bytes")


def check_file(path: str, *, root: str, limit: int, resolver: Resolver | None = None) -> None:
    """Refuse what `read_file` would refuse, looking only (stat, never open).

    Raises RefusedFile, or OSError (FileNotFoundError...) when the file cannot be looked at.
    """
    _check_stat(resolve_inside(path, root, resolver)[1], limit)


def read_file(path: str, *, root: str, limit: int, resolver: Resolver | None = None) -> bytes:
    """The bytes of a regular file inside `root`, at most `limit` of them.

    Raises RefusedFile, or OSError when the file cannot be opened or read.
    """
    real, info = resolve_inside(path, root, resolver)
    _check_stat(info, limit)  # before open: a socket or device is never opened
    try:
        fd = os.open(real, _OPEN_FLAGS)
    except OSError as exc:
        if os.path.islink(real):  # ELOOP from O_NOFOLLOW: swapped for a symlink just now
            raise RefusedFile("it changed into a symlink while being read") from exc
        raise
    try:
        _check_stat(os.fstat(fd), limit)  # again: what was opened, not what was looked at
        chunks: list[bytes] = []
        remaining = limit + 1  # one byte more tells a file that grew (or lied in st_size)
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise RefusedFile(f"it is over the limit of {limit} bytes")
    return data
