from __future__ import annotations

import sys

import pytest

from reconciler.cli import main


def test_without_fastapi_it_says_how_to_install_the_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "fastapi", None)  # makes `import fastapi` fail
    assert main(["sandbox", "--port", "0"]) == 1
    err = capsys.readouterr().err
    assert "pip install 'tensormesh-reconciler[sandbox]'" in err
    assert "Traceback" not in err


def test_a_bad_probability_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sandbox", "--error-rate", "1.5"]) == 1
    assert "between 0 and 1" in capsys.readouterr().err
