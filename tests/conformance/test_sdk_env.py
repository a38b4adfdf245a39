"""Where no Python >= 3.12 exists the suite skips naming what is missing; under CI it fails."""

from __future__ import annotations

import sys

import pytest

from tests.conformance import sdk_env


@pytest.fixture
def no_python(monkeypatch: pytest.MonkeyPatch) -> None:
    if sys.version_info >= sdk_env.MIN_PYTHON:
        pytest.skip("this interpreter is itself >= 3.12, so a Python is always found")
    monkeypatch.setenv("PATH", "")
    monkeypatch.delenv("TENSORMESH_SDK_PYTHON", raising=False)


def test_without_python_312_the_suite_skips_naming_what_is_missing(
    no_python: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CI", raising=False)
    assert sdk_env.find_python() is None
    with pytest.raises(pytest.skip.Exception, match=r"no Python >= 3\.12 found.*pyenv"):
        sdk_env.ensure_sdk_env()


def test_under_ci_a_missing_python_is_a_failure(
    no_python: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"CI=true.*no Python >= 3\.12"):
        sdk_env.ensure_sdk_env()


def test_a_named_python_is_tried_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENSORMESH_SDK_PYTHON", "/nonexistent/python3.12")
    assert sdk_env._candidates()[0] == "/nonexistent/python3.12"
