"""Bad flag values and bad endpoint settings through the real CLI entry point (in process).

Each is a usage error: exit 1, one line on stderr naming the flag or variable, no traceback,
nothing read, locked, written or called; a token is never echoed.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reconciler.cli import main
from tests.support.cli import write_manifest

TOKEN_ENV = "TENSORMESH_CONTROL_PLANE_TOKEN"
URL_ENV = "TENSORMESH_CONTROL_PLANE_BASE_URL"

DURATIONS = ["nan", "NaN", "inf", "-inf", "1e999", "-1", "abc"]

# (command, flag, bad value): every one must be refused at parse time.
FLAG_CASES: list[tuple[list[str], str, str]] = [
    *[(["plan", "M"], "--wait-timeout", value) for value in DURATIONS],
    *[(["plan", "M"], "--lock-timeout", value) for value in DURATIONS],
    *[(["apply", "M"], "--wait-timeout", value) for value in ("nan", "inf", "-5")],
    *[(["apply", "M"], "--lock-timeout", value) for value in ("nan", "inf", "-5")],
    *[(["apply", "M"], "--concurrency", value) for value in ("0", "-1", "nan", "1e3", "257")],
    *[(["reconcile", "M", "--once"], "--interval", value) for value in ("nan", "inf", "0", "-1")],
    *[(["reconcile", "M", "--once"], "--wait-timeout", value) for value in ("nan", "inf")],
    *[(["reconcile", "M", "--once"], "--lock-timeout", value) for value in ("nan", "-inf")],
    *[(["reconcile", "M", "--once"], "--concurrency", value) for value in ("0", "nan")],
    # MISSING: a folder that does not exist under the test's tmp_path.
    (["reconcile", "M", "--once"], "--metrics-file", "MISSING/x.prom"),
    (["reconcile", "M", "--once"], "--metrics-file", "MISSING/deeper/x.prom"),
    (["state", "rm", "x"], "--lock-timeout", "nan"),
    (["state", "import", "x", "m-1"], "--lock-timeout", "inf"),
    *[
        (["plan", "M"], "--api-url", value)
        for value in (
            "http://h\nX-Injected: 1",
            "http://h\r/x",
            "https://h\x00",
            "https://h\x1b[2J",
            "https://h\x7f",
            "http://a b",
            "ftp://h",
            "file:///etc/passwd",
            "javascript:alert(1)",
            "http://",
            "http://[::1",
            "http://h:99999",
            "h",
        )
    ],
    (["apply", "M"], "--api-url", "http://h\n/"),
    (["reconcile", "M", "--once"], "--api-url", "http://h\u2028x"),
    (["state", "import", "x", "m-1"], "--api-url", "http://h\r\nx"),
    *[(["sandbox"], "--ready-after", value) for value in ("nan", "inf", "-1")],
    *[(["sandbox"], "--deleted-linger", value) for value in ("nan", "inf", "-1")],
    *[(["sandbox"], "--latency-ms", value) for value in ("nan", "inf", "-5")],
    *[(["sandbox"], "--rate-limit-every", value) for value in ("-1", "nan", "1.5")],
    *[
        (["sandbox"], flag, value)
        for flag in ("--error-rate", "--lose-create-rate", "--fail-rate")
        for value in ("nan", "inf", "-0.1", "1.5")
    ],
    *[(["sandbox"], "--port", value) for value in ("-1", "65536", "nan")],
    *[(["sandbox"], "--token", value) for value in ("", "a\nb", "a\r\nb", "t\x00k", "tök")],
]


def one_line_error(code: int, out: str, err: str) -> str:
    assert code == 1, (code, out, err)
    assert "Traceback" not in out + err and "internal error" not in err, err
    assert err.startswith("error: ") and err.count("\n") == 1, repr(err)
    return err


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_manifest(tmp_path / "m", "door")
    monkeypatch.chdir(tmp_path)
    # Nothing must reach a control plane; this one does not exist.
    monkeypatch.setenv(TOKEN_ENV, "token-that-must-not-be-used")
    monkeypatch.setenv(URL_ENV, "http://127.0.0.1:9")
    return tmp_path


@pytest.mark.parametrize(
    ("command", "flag", "value"),
    [pytest.param(c, f, v, id=f"{c[0]}-{f}-{v!r}") for c, f, v in FLAG_CASES],
)
def test_bad_flag_value_is_a_one_line_usage_error(
    workspace: Path,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
    flag: str,
    value: str,
) -> None:
    args = [("m" if arg == "M" else arg) for arg in command]
    value = value.replace("MISSING", str(workspace / "missing"))
    state = workspace / "s.json"
    code = main(
        [*args, "--state", str(state), flag, value]
        if args[0] != "sandbox"
        else [
            *args,
            flag,
            value,
        ]
    )
    captured = capsys.readouterr()
    err = one_line_error(code, captured.out, captured.err)
    assert f"'{flag}'" in err
    assert not list(workspace.glob("s.json*")), "nothing read, locked or written"
    assert not (workspace / "missing").exists(), "no folder is created"
    if flag == "--token" and value:
        assert value not in err


def test_the_values_table_is_not_trivially_small() -> None:
    assert len(FLAG_CASES) >= 80


# (variable, bad value, what the message must say)
ENV_CASES: list[tuple[str, str, str]] = [
    (TOKEN_ENV, "secret-part-1\r\nX-Evil: 1", r"control character \(CR\) at position 14"),
    (TOKEN_ENV, "secret-part-1\nsecret-part-2", r"control character \(LF\)"),
    (TOKEN_ENV, "secret-part-1\x1b[2Jsecret", r"control character \(U\+001B\)"),
    (TOKEN_ENV, "secret-part-1\x7fsecret", r"control character \(DEL\)"),
    (TOKEN_ENV, "secret-part-1\tsecret", r"control character \(TAB\)"),
    (TOKEN_ENV, "secret-part-1ésecret", r"non-ASCII character at position 14"),
    (TOKEN_ENV, "secret-part-1\u200bsecret", r"non-ASCII"),
    (URL_ENV, "http://h\nX-Injected: 1", r"control or space character \(LF\)"),
    (URL_ENV, "http://h\r/", r"control or space character \(CR\)"),
    (URL_ENV, "http://h/\x1b[2J", r"U\+001B"),
    (URL_ENV, "http://h/a b", r"\(space\)"),
    (URL_ENV, "ftp://h", r"not an http\(s\) URL"),
    (URL_ENV, "file:///etc/passwd", r"not an http\(s\) URL"),
    (URL_ENV, "http://[::1", r"not a valid URL"),
    (URL_ENV, "http://h:99999", r"not a valid URL"),
    (URL_ENV, "https://user:pa\nss@h", r"control or space character"),
]


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [pytest.param(*case, id=f"{case[0][-5:]}-{case[1]!r}") for case in ENV_CASES],
)
@pytest.mark.parametrize(
    "command",
    [["apply", "m", "--no-wait"], ["reconcile", "m", "--once"], ["plan", "m", "--refresh"]],
)
def test_bad_token_or_url_is_one_clear_error_before_any_call(
    workspace: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    command: list[str],
    variable: str,
    value: str,
    expected: str,
) -> None:
    monkeypatch.setenv(variable, value)
    state = workspace / "s.json"
    code = main([*command, "--state", str(state)])
    captured = capsys.readouterr()
    err = one_line_error(code, captured.out, captured.err)
    assert variable in err and re.search(expected, err), err
    for part in re.split(r"[\x00-\x20\x7f]", value):
        if len(part) > 6:
            assert part not in captured.out + err, "the value is never echoed"
    assert not state.exists()
    assert not (workspace / "s.json.journal").exists(), "no intent: nothing was sent"


def test_a_good_url_and_token_pass_the_check() -> None:
    from reconciler.adapters import endpoint

    assert endpoint.check_url(" https://api.tensormesh.ai/v1 \n", source="X") == (
        "https://api.tensormesh.ai/v1"
    )
    assert endpoint.check_url("http://127.0.0.1:8080", source="X") == "http://127.0.0.1:8080"
    token = "eyJhbGciOi.JIUzI1NiJ9-_~+/="
    assert endpoint.check_token(token, source="X") == token


def test_metrics_file_in_an_existing_folder_is_accepted(tmp_path: Path) -> None:
    import click

    from reconciler.commands.options import check_output_folder

    ctx = click.Context(click.Command("x"))
    param = click.Option(["--metrics-file"])
    good = str(tmp_path / "x.prom")
    assert check_output_folder(ctx, param, good) == good
    with pytest.raises(click.BadParameter, match="is a folder"):
        check_output_folder(ctx, param, str(tmp_path))
    with pytest.raises(click.BadParameter, match="does not exist"):
        check_output_folder(ctx, param, str(tmp_path / "missing" / "x.prom"))
    assert not (tmp_path / "missing").exists()
