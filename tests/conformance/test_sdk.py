"""The official SDK (`tensormesh`, pinned) against the sandbox: every answer parses into the
SDK's own types and every error maps to its exception class.

The cases live in sdk_driver.py, which runs once per session in the SDK's Python >= 3.12
venv; each case is reported here as its own test.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conformance.conftest import DRIVER

CASE_NAMES = re.findall(r"^@case\ndef (\w+)\(", DRIVER.read_text(encoding="utf-8"), re.MULTILINE)


def test_the_driver_has_cases_for_every_required_call() -> None:
    required = (
        "list",
        "get",
        "deploy",
        "delete",
        "validate",
        "check",
        "pricing",
        "balance",
        "profile",
        "logs",
        "search_by_infra",
        "error_400",
        "error_401",
        "error_403",
        "error_404",
        "error_409",
        "error_429",
        "error_50",
        "error_501",
    )
    missing = [word for word in required if not any(word in name for name in CASE_NAMES)]
    assert not missing


@pytest.mark.parametrize("name", CASE_NAMES)
def test_sdk_case(sdk_results: dict[str, dict[str, Any]], name: str) -> None:
    assert set(sdk_results) == set(CASE_NAMES)
    result = sdk_results[name]
    assert result["ok"], result["detail"]
