"""Fixtures of the SDK conformance suite: the SDK's venv and one sandbox per session."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conformance.sdk_env import SdkEnv, ensure_sdk_env
from tests.support.sandbox import start_sandbox

DRIVER = Path(__file__).with_name("sdk_driver.py")


@pytest.fixture(scope="session")
def sdk_env() -> SdkEnv:
    return ensure_sdk_env()


@pytest.fixture(scope="session")
def sdk_results(sdk_env: SdkEnv) -> Iterator[dict[str, dict[str, Any]]]:
    """Every SDK case, run once in the SDK's venv against a sandbox of its own."""
    with start_sandbox() as sbx:
        done = subprocess.run(
            [str(sdk_env.python), str(DRIVER), sbx.url, sbx.token, sbx.user_id],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={**os.environ, "PYTHONPATH": ""},
        )
        assert done.returncode == 0, done.stderr
        yield json.loads(done.stdout)
