"""A command line that cannot run as given prints one style of usage error, whichever command:
`error: MESSAGE (see `COMMAND --help`)` on one line, exit 1, nothing read or written."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.cli import main

CASES = [
    (["adopt", "--out", "m", "--user", "not-a-uuid"], "adopt", "--user"),
    (["adopt", "--out", "m", "--secret", "hfToken"], "adopt", "--secret"),
    (["adopt", "--out", "m", "--secret", "hfToken=1X"], "adopt", "--secret"),
    (["state", "import", "Bad_Name", "m-1"], "state import", "not a valid entry name"),
    (["state", "migrate"], "state migrate", "--to TARGET or --from SOURCE"),
    (["state", "history"], "state history", "PostgreSQL"),
    (["plan"], "plan", "manifest file or folder"),  # the style these follow
]


@pytest.mark.parametrize(("args", "command", "words"), CASES, ids=[" ".join(c[0]) for c in CASES])
def test_a_usage_error_points_at_the_command_help(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    command: str,
    words: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    state = tmp_path / "s.json"
    code = main([*args, "--state", str(state)])
    captured = capsys.readouterr()
    assert code == 1, captured
    err = captured.err
    assert err.startswith("error: ") and err.count("\n") == 1, repr(err)
    assert words in err, err
    assert err.endswith(f" (see `tensormesh-reconciler {command} --help`)\n"), repr(err)
    assert list(tmp_path.iterdir()) == [], "nothing read, locked or written"
