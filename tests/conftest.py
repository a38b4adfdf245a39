"""Shared fixtures: `sandbox` is a real sandbox subprocess on loopback, stopped after the test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.postgres import PostgresServer, start_postgres
from tests.support.sandbox import SandboxProcess, start_sandbox


@pytest.fixture
def sandbox() -> Iterator[SandboxProcess]:
    with start_sandbox() as process:
        yield process


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the session (skipped when the binaries are missing)."""
    with start_postgres() as server:
        yield server


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> str:
    """The URL (with password) of a fresh, empty database on the session's server."""
    return postgres_server.create_database()
