"""Where the state lives: a file path, or a PostgreSQL URL plus a workspace name.

Pure string handling, so that the file backend never imports a database driver. The
workspace rides on the location as `URL#workspace` between the command line and the store;
`describe` is the only form printed, with the password replaced like a token.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

from reconciler.core.errors import UsageError

DEFAULT_WORKSPACE = "default"
_SCHEMES = ("postgresql://", "postgres://")
_WORKSPACE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$")
_PASSWORD_PARAM = re.compile(r"(password=)[^&#\s]*", re.IGNORECASE)


def is_database(location: str) -> bool:
    return location.lower().startswith(_SCHEMES)


def with_workspace(location: str, workspace: str | None) -> str:
    """`--state` and `--workspace` folded into one location (files take no workspace)."""
    if not is_database(location):
        if workspace not in (None, DEFAULT_WORKSPACE):
            raise UsageError(
                "--workspace needs a PostgreSQL --state (postgresql://USER@HOST:PORT/DB); "
                "a state file holds one workspace"
            )
        return location
    name = workspace or DEFAULT_WORKSPACE
    if not _WORKSPACE.match(name):
        raise UsageError(
            f"{name!r} is not a valid workspace name: letters, digits, '.', '_' and '-', "
            "1-63 characters, starting and ending with a letter or digit"
        )
    return f"{split(location)[0]}#{name}"


def split(location: str) -> tuple[str, str]:
    """(URL without workspace, workspace) of a database location."""
    url, sep, workspace = location.partition("#")
    return url, (workspace if sep and workspace else DEFAULT_WORKSPACE)


def redact(text: str) -> str:
    """A URL (or any text holding one) with its password shown as `***`."""
    text = _PASSWORD_PARAM.sub(r"\1***", text)
    return re.sub(r"(postgres(?:ql)?://[^:/@\s]*:)[^@\s]*@", r"\1***@", text, flags=re.IGNORECASE)


def describe(location: str) -> str:
    """How messages name the state: the path, or the redacted URL and its workspace."""
    if not is_database(location):
        return location
    url, workspace = split(location)
    return f"{redact(url)} (workspace {workspace})"


def password_of(url: str) -> str | None:
    """The URL's password, so that error text from the driver can be scrubbed of it."""
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def without_fragment(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(fragment=""))


def as_flags(location: str) -> str:
    """The `--state` (and `--workspace`) flags naming `location`, the password not shown."""
    if not is_database(location):
        return f"--state {location}"
    url, workspace = split(location)
    return f"--state {redact(url)} --workspace {workspace}"
