"""Where the control-plane token comes from, and how a rotated one is picked up.

Precedence: TENSORMESH_CONTROL_PLANE_TOKEN, else the file named by
TENSORMESH_CONTROL_PLANE_TOKEN_FILE, else `tm`'s login (`auth.json` under TM_CONFIG_HOME,
default ~/.config/tensormesh). A file is re-read when its stat (inode, size, mtime)
changes, checked before each call, and after a 401 whatever its stat says. Never shows
a token: messages name the variable or the path only.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from stat import S_ISREG

from reconciler.adapters import endpoint
from reconciler.core.errors import UsageError

TOKEN_ENV = "TENSORMESH_CONTROL_PLANE_TOKEN"  # noqa: S105 - a variable name, not a secret
TOKEN_FILE_ENV = "TENSORMESH_CONTROL_PLANE_TOKEN_FILE"  # noqa: S105 - a variable name
CONFIG_HOME_ENV = "TM_CONFIG_HOME"
# A token file is a few KB at most (a JWT); a bigger one is a wrong path, not a token.
_MAX_FILE = 64 * 1024
_MAX_SEEN = 16
_log = logging.getLogger(__name__)
HOW_TO_GET = "get one with `tm auth login`, then `tm auth print-token --yes-i-know`"

StatKey = tuple[int, int, int, int]


class StaticToken:
    """A token that cannot change: TENSORMESH_CONTROL_PLANE_TOKEN (or a test's)."""

    def __init__(self, token: str, *, source: str = TOKEN_ENV) -> None:
        self._token = token
        self.source = source
        self._refusals = _Count()

    @property
    def rejections(self) -> int:
        """401 answers so far (the auth-failure metric)."""
        return self._refusals.value

    def count_refusal(self) -> None:
        self._refusals.add()

    def current(self) -> str:
        return self._token

    def renew(self, rejected: str) -> str | None:
        return None

    def known(self) -> tuple[str, ...]:
        return (self._token,)

    def refused_hint(self) -> str:
        return (
            f"The token in {self.source} was refused (expired, revoked or not valid): {HOW_TO_GET}"
        )


class _Count:
    """A counter several apply workers bump at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.value = 0

    def add(self) -> None:
        with self._lock:
            self.value += 1


@dataclass(frozen=True, slots=True)
class _Read:
    token: str
    key: StatKey


class FileToken:
    """A token kept in a file that others rotate (a Kubernetes Secret volume, Vault agent,
    `tm auth refresh`). Thread-safe: every apply worker asks it before each call."""

    def __init__(self, path: str, *, source: str, parse: Callable[[bytes, str], str]) -> None:
        self.path = path
        self.source = source
        self._parse = parse
        self._lock = threading.Lock()
        self._seen: list[str] = []
        self._refusals = _Count()
        self.reloads = 0  # times a changed token was picked up after the first read
        first = self._read()
        if first is None:
            raise UsageError(f"{self._where()} is empty: put the token in it; {HOW_TO_GET}")
        self._last = first
        self._seen.append(first.token)

    @property
    def rejections(self) -> int:
        """401 answers so far (the auth-failure metric)."""
        return self._refusals.value

    def count_refusal(self) -> None:
        self._refusals.add()

    def current(self) -> str:
        """The token, re-read first if the file changed since the last read (one stat)."""
        key = _stat_key(self.path)
        with self._lock:
            if key is not None and key != self._last.key:
                self._reload()
            return self._last.token

    def renew(self, rejected: str) -> str | None:
        """After a 401 with `rejected`: read the file again; the new token, or None when it
        still holds the refused one (the caller then reports the 401)."""
        with self._lock:
            self._reload()
            token = self._last.token
        return None if token == rejected else token

    def known(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(self._seen)

    def refused_hint(self) -> str:
        return (
            f"The token from {self._where()} was refused (expired, revoked or not valid), also "
            f"after reading the file again: {HOW_TO_GET}, and put it in that file"
        )

    def _reload(self) -> None:
        try:
            fresh = self._read()
        except UsageError:
            # A rotation in progress (a writer that truncates first, a symlink swapped):
            # keep the last good token; the next call or the next 401 reads it again.
            return
        if fresh is None:
            return  # empty for now: the same
        if fresh.token != self._last.token:
            self.reloads += 1
            _log.info("read a new token from %s", self._where())
            if fresh.token not in self._seen:
                # Kept to scrub them from messages; the oldest ones are long revoked.
                self._seen = [*self._seen[-(_MAX_SEEN - 1) :], fresh.token]
        self._last = fresh

    def _read(self) -> _Read | None:
        try:
            # Non-blocking: a FIFO named by mistake must not hang the run on its open.
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
            with os.fdopen(fd, "rb") as file:
                stat = os.fstat(file.fileno())
                if not S_ISREG(stat.st_mode):
                    raise UsageError(
                        f"{self._where()} is not a regular file; point {self.source} at the "
                        "file holding the token"
                    )
                data = file.read(_MAX_FILE + 1)
        except OSError as exc:
            raise UsageError(
                f"{self._where()} cannot be read ({exc.strerror or type(exc).__name__}); "
                f"point {self.source} at the file holding the token"
            ) from exc
        if len(data) > _MAX_FILE:
            raise UsageError(
                f"{self._where()} is larger than {_MAX_FILE} bytes: not a token file; "
                f"point {self.source} at the file holding the token"
            )
        key = (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)
        if not data.strip():
            return None
        token = endpoint.check_token(self._parse(data, self._where()), source=self._where())
        return _Read(token, key)

    def _where(self) -> str:
        return f"{self.source} ({self.path})"


TokenSource = StaticToken | FileToken


def _stat_key(path: str) -> StatKey | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None  # gone for a moment during a rotation: keep the last token
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)


def read_plain(data: bytes, where: str) -> str:
    """A token file holds the token alone; surrounding whitespace (a final newline) is cut."""
    try:
        return data.decode("ascii").strip()
    except UnicodeDecodeError:
        raise UsageError(
            f"{where} holds a non-ASCII byte: a control plane token is plain ASCII; write the "
            "token alone into it (value not shown)"
        ) from None


def read_auth_json(data: bytes, where: str) -> str:
    """`tm`'s auth.json: a JSON object whose `access_token` is the bearer token (tensormesh
    0.2.1, tensormesh_cli/auth/storage.py); the refresh token in it is left alone."""
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):
        document = None
    token = document.get("access_token") if isinstance(document, dict) else None
    if not isinstance(token, str) or not token.strip():
        raise UsageError(
            f"{where} has no `access_token` (it is not a `tm` login file, or it is damaged): "
            "log in again with `tm auth login`"
        )
    return token.strip()


def auth_json_path(env: Mapping[str, str]) -> str | None:
    """Where `tm` keeps its login: $TM_CONFIG_HOME/auth.json, else
    $HOME/.config/tensormesh/auth.json (None without either)."""
    home = env.get("HOME", "").strip()
    override = env.get(CONFIG_HOME_ENV, "").strip()
    if override:
        if override == "~" or override.startswith("~/"):
            if not home:
                return None
            override = home + override[1:]
        return os.path.join(override, "auth.json")
    if not home:
        return None
    return os.path.join(home, ".config", "tensormesh", "auth.json")


def from_environment(env: Mapping[str, str]) -> TokenSource:
    """The token source the environment names, checked now (before any call)."""
    token = env.get(TOKEN_ENV, "").strip()
    if token:
        return StaticToken(endpoint.check_token(token, source=TOKEN_ENV))
    path = env.get(TOKEN_FILE_ENV, "").strip()
    if path:
        return FileToken(path, source=TOKEN_FILE_ENV, parse=read_plain)
    login = auth_json_path(env)
    if login is not None and os.path.exists(login):
        return FileToken(login, source="`tm` login", parse=read_auth_json)
    looked = f" (no `tm` login at {login} either)" if login else ""
    raise UsageError(
        f"{TOKEN_ENV} is not set{looked}: export the control plane access token in it, or "
        f"name a file holding it in {TOKEN_FILE_ENV}, or log in with `tm auth login`; "
        "a token is never accepted as a flag"
    )
