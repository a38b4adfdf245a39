"""Shared fixtures: `sandbox` is a real sandbox subprocess on loopback, one per test module,
reset (`POST /_sandbox/reset`) before each test so that every test starts from a fresh one.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import settings

from tests.support import examples
from tests.support.postgres import PostgresServer, start_postgres
from tests.support.sandbox import SandboxProcess, start_sandbox

if examples.SCALE < 1:  # `make test-fast`: also fewer examples where a test sets none
    settings.register_profile("fast", max_examples=examples.examples(100))
    settings.load_profile("fast")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A test on the subprocess sandbox is end to end whatever its folder: `make test-fast`
    # leaves it out by marker.
    for item in items:
        if "sandbox" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="module")
def _module_sandbox() -> Iterator[list[SandboxProcess]]:
    # A list, so that a test that stopped or killed the process gets a new one.
    held: list[SandboxProcess] = []
    yield held
    for process in held:
        process.stop()


@pytest.fixture
def sandbox(_module_sandbox: list[SandboxProcess]) -> SandboxProcess:
    if _module_sandbox and _module_sandbox[-1].proc.poll() is None:
        process = _module_sandbox[-1]
        process.reset()
        return process
    process = start_sandbox()
    _module_sandbox.append(process)
    return process


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the session (skipped when the binaries are missing)."""
    with start_postgres() as server:
        yield server


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> str:
    """The URL (with password) of a fresh, empty database on the session's server."""
    return postgres_server.create_database()
