"""Lock step: one writer per state file, through flock on `<state>.lock` plus a holder record.

The OS drops a flock when its holder dies, so a crash never wedges the state; the holder
record (`<state>.lock.info`) only says who holds it. Never touches the state file itself.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import logging
import os
import socket
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from reconciler.core.errors import StateError, StateLockedError

log = logging.getLogger("reconciler.state")

_POLL_SECONDS = 0.05
_DEAD_HOLDER_GRACE_SECONDS = 1.0


def lock_path(state_path: str | Path) -> Path:
    return Path(f"{state_path}.lock")


def info_path(state_path: str | Path) -> Path:
    return Path(f"{state_path}.lock.info")


class StateLock:
    """`with StateLock(path, command="apply"):` holds the state's lock for the block."""

    def __init__(self, path: str | Path, *, command: str, timeout: float = 60.0) -> None:
        self.state_path = Path(path)
        self.command = command
        self.timeout = timeout
        self._fd: int | None = None

    def __enter__(self) -> StateLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Wait up to `timeout` seconds, then raise StateLockedError naming the holder."""
        deadline = time.monotonic() + self.timeout
        dead_since: dict[str, float] = {}
        while True:
            fd = self._try_lock()
            if fd is not None:
                break
            holder = read_holder(self.state_path)
            if holder is not None and self._gone_long_enough(holder, dead_since):
                # The flock is still held, but by an orphan of a dead process on this host
                # (e.g. a forked child kept the descriptor): break it like `state unlock`.
                log.warning(
                    "taking over the lock on %s: its holder %s no longer exists",
                    self.state_path,
                    describe_holder(holder),
                )
                _unlink_quietly(lock_path(self.state_path))
                _unlink_quietly(info_path(self.state_path))
                continue
            if time.monotonic() >= deadline:
                raise StateLockedError(self._locked_message(holder))
            time.sleep(_POLL_SECONDS)
        self._fd = fd
        stale = read_holder(self.state_path)
        if stale is not None:
            log.warning(
                "taking over the lock on %s: its previous holder %s ended without releasing it",
                self.state_path,
                describe_holder(stale),
            )
        self._write_holder()

    @staticmethod
    def _gone_long_enough(holder: dict[str, Any], dead_since: dict[str, float]) -> bool:
        # A new holder takes the flock a moment before it replaces a dead one's record;
        # only a record seen dead for a grace period belongs to the process holding the lock.
        if not _holder_is_gone(holder):
            return False
        key = json.dumps(holder, sort_keys=True)
        first = dead_since.setdefault(key, time.monotonic())
        return time.monotonic() - first >= _DEAD_HOLDER_GRACE_SECONDS

    def release(self) -> None:
        if self._fd is None:
            return
        # Remove the record before unlocking so a waiter never sees our record as stale.
        _unlink_quietly(info_path(self.state_path))
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def _try_lock(self) -> int | None:
        path = lock_path(self.state_path)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StateError(
                f"cannot create the lock file {path}: {exc.strerror or exc}; the state file's "
                "folder must be writable"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        # `state unlock` may have removed the file between open and flock; then this lock
        # guards nothing, so start again on the path's current file.
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            os.close(fd)
            return self._try_lock()
        return fd

    def _write_holder(self) -> None:
        record = {
            "command": self.command,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "startedAt": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        path = info_path(self.state_path)
        tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
        try:
            tmp.write_text(json.dumps(record, sort_keys=True) + "\n", encoding="utf-8")
            os.replace(tmp, path)
        except OSError as exc:
            _unlink_quietly(tmp)
            self.release()
            raise StateError(
                f"cannot write the lock holder record {path}: {exc.strerror or exc}"
            ) from exc

    def _locked_message(self, holder: dict[str, Any] | None) -> str:
        who = describe_holder(holder) if holder else "another process (no holder record)"
        return (
            f"state file {self.state_path} is locked by {who}; wait for it to finish, or run "
            f"`state unlock --state {self.state_path}` if it is gone"
        )


def read_holder(state_path: str | Path) -> dict[str, Any] | None:
    """The holder record, or None when there is none or it is unreadable."""
    try:
        loaded = json.loads(info_path(state_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) else None


def describe_holder(holder: dict[str, Any]) -> str:
    return (
        f"`{holder.get('command', '?')}` (pid {holder.get('pid', '?')} on host "
        f"{holder.get('host', '?')} since {holder.get('startedAt', '?')})"
    )


def force_unlock(state_path: str | Path) -> str | None:
    """Break the lock whoever holds it; returns the old holder's description, if recorded."""
    holder = read_holder(state_path)
    # The lock file stays after a clean release (flock locks the open file, not the path):
    # its mere existence is no lock. Nobody holds it and no record says otherwise: unlocked.
    existed = holder is not None or not _flock_is_free(lock_path(state_path))
    _unlink_quietly(info_path(state_path))
    _unlink_quietly(lock_path(state_path))
    if holder is not None:
        return describe_holder(holder)
    return "an unknown holder (no holder record)" if existed else None


def _flock_is_free(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return True
    except OSError:
        return False  # cannot tell: treat it as held, so `state unlock` still breaks it
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    finally:
        os.close(fd)


def _holder_is_gone(holder: dict[str, Any]) -> bool:
    pid = holder.get("pid")
    if holder.get("host") != socket.gethostname() or not isinstance(pid, int) or pid <= 0:
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # exists, owned by someone else
    return False


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
