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


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--balance", "lots"], "not a decimal amount"),
        (["--failed-status", "failed"], "enum value name"),
        (["--terminal-status", "MODEL_STATUS_OK", "--terminal-status", "x y"], "enum value name"),
        (["--refuse-creates-billing", "302"], "400-599"),
        (["--token-ttl", "0"], "token-ttl"),
        (["--unknown-path-status", "418"], "unknown-path-status"),
    ],
)
def test_a_bad_knob_is_a_clean_usage_error(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["sandbox", "--port", "0", *args]) == 1
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
