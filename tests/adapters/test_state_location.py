"""Where the state lives: file or PostgreSQL URL, the workspace, and the password redacted."""

from __future__ import annotations

import pytest

from reconciler.adapters import state_location
from reconciler.core.errors import UsageError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://bob:s3cr%40t@db:5432/tm", "postgresql://bob:***@db:5432/tm"),
        ("postgres://bob:pw@db/tm", "postgres://bob:***@db/tm"),
        ("postgresql://bob@db/tm", "postgresql://bob@db/tm"),
        (
            "postgresql://db/tm?password=pw&sslmode=require",
            "postgresql://db/tm?password=***&sslmode=require",
        ),
        ("failed for postgresql://a:b@h/d: boom", "failed for postgresql://a:***@h/d: boom"),
        ("state.json", "state.json"),
    ],
)
def test_redact_hides_the_password(text: str, expected: str) -> None:
    assert state_location.redact(text) == expected


def test_a_workspace_rides_on_a_database_location_only() -> None:
    url = "postgresql://bob:pw@db:5432/tm"
    located = state_location.with_workspace(url, "prod")
    assert state_location.split(located) == (url, "prod")
    assert state_location.split(state_location.with_workspace(url, None)) == (url, "default")
    assert state_location.describe(located) == "postgresql://bob:***@db:5432/tm (workspace prod)"
    assert state_location.with_workspace("s.json", "default") == "s.json"
    with pytest.raises(UsageError, match="needs a PostgreSQL --state"):
        state_location.with_workspace("s.json", "prod")
    with pytest.raises(UsageError, match="not a valid workspace name"):
        state_location.with_workspace(url, "a b")


def test_only_postgres_urls_select_the_database() -> None:
    assert state_location.is_database("postgresql://h/d")
    assert state_location.is_database("POSTGRES://h/d")
    assert not state_location.is_database("./postgresql.json")
