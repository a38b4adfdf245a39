"""Shared fixtures: `sandbox` is a real sandbox subprocess on loopback, stopped after the test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.sandbox import SandboxProcess, start_sandbox


@pytest.fixture
def sandbox() -> Iterator[SandboxProcess]:
    with start_sandbox() as process:
        yield process
