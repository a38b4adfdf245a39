"""PostgreSQL connections for the state backend: the optional driver, and one-line errors.

Imports psycopg only when a database state is used, so the file backend needs nothing
installed. Every driver error leaves here as a StateError naming the redacted URL.
"""

from __future__ import annotations

from typing import Any

from reconciler.adapters import state_location
from reconciler.core.errors import StateError

EXTRA_HINT = "pip install 'tensormesh-reconciler[postgres]'"
CONNECT_TIMEOUT_SECONDS = 10


def driver() -> Any:
    """The psycopg module, or a StateError saying how to install it."""
    try:
        import psycopg
    except ImportError as exc:
        raise StateError(
            "the state is a PostgreSQL URL, which needs the PostgreSQL driver: install the "
            f"extra with `{EXTRA_HINT}`"
        ) from exc
    return psycopg


def connect(url: str) -> Any:
    """An autocommit connection whose commits wait for the server's disk."""
    psycopg = driver()
    url = state_location.without_fragment(url)
    try:
        conn = psycopg.connect(
            url,
            autocommit=True,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            application_name="tensormesh-reconciler",
        )
        # Durable means on the server's disk before the next API call, whatever its default.
        conn.execute("SET synchronous_commit = on")
    except psycopg.Error as exc:
        raise failure(url, "cannot connect to", exc) from exc
    return conn


def failure(url: str, doing: str, exc: BaseException) -> StateError:
    """One line: what failed, where (redacted) and the server's reason, password scrubbed."""
    reason = " ".join(str(exc).split()) or type(exc).__name__
    secret = state_location.password_of(state_location.without_fragment(url))
    if secret:
        reason = reason.replace(secret, "***")
    reason = state_location.redact(reason)
    where = state_location.redact(state_location.without_fragment(url))
    return StateError(f"{doing} the PostgreSQL state {where}: {reason}")
