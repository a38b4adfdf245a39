"""Replace a file atomically: temporary file in the same folder, fsync, rename, fsync the folder.

A crash leaves the old file or the new one, never a mix. Raises OSError; callers turn it
into their own message (state, plan or metrics file).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path


def write_all(fd: int, data: bytes) -> None:
    """os.write until every byte is written (a write may take only part of them)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def replace_file(path: Path, data: bytes, *, new_mode: int = 0o644) -> None:
    """Write `data` to `path` in one rename; an existing file keeps its mode exactly."""
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        mode = _existing_mode(path)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, new_mode if mode is None else mode)
        try:
            if mode is not None:
                os.fchmod(fd, mode)  # os.open's mode is masked by the umask; keep it exactly
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError:
        # When the folder itself is unwritable, nothing was created there either.
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    """Make a rename or a new file's directory entry durable, where the file system allows."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on directories; the data itself is synced
    finally:
        os.close(fd)


def _existing_mode(path: Path) -> int | None:
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    if stat.S_ISDIR(info.st_mode):
        raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
    return stat.S_IMODE(info.st_mode)
