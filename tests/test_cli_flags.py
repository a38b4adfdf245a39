"""Each command offers only the flags it honours; a flag that cannot apply is a usage error.

Through the real CLI entry point, in process: `apply --dry-run` is exactly `plan`, so the
flags of carrying a plan out are refused with it (exit 1, one line naming the flag, nothing
read or written); `plan --help` lists none of apply's flags; `apply --output` is text|json.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from reconciler.cli import main
from tests.support.cli import write_manifest

TOKEN_ENV = "TENSORMESH_CONTROL_PLANE_TOKEN"
URL_ENV = "TENSORMESH_CONTROL_PLANE_BASE_URL"

# apply's flags for making the calls, with a value where they take one.
CARRY_OUT_ONLY: list[tuple[str, ...]] = [
    ("--concurrency", "3"),
    ("--concurrency", "8"),  # the default value, given: still a flag the run would ignore
    ("--no-wait",),
    ("--wait-timeout", "5"),
    ("--lock-timeout", "5"),
    ("--auto-approve",),
    ("--max-destroy", "0"),
    ("--min-balance-hours", "3"),
    ("--commit",),
    ("--push",),
    ("--commit-message-prefix", "x:"),
    ("--no-skip-ci",),
]

# (arguments after PATH and --state, the flag the one-line error must name)
REFUSED: list[tuple[list[str], str]] = [
    *[(["--dry-run", *flag], flag[0]) for flag in CARRY_OUT_ONLY],
    # The example: three ignored flags; the first is named.
    (["--dry-run", "--concurrency", "3", "--no-wait", "--wait-timeout", "9"], "--concurrency"),
    # Flags only a dry run's refresh honours, on a real apply.
    (["--refresh"], "--refresh"),
    (["--unmanaged", "ignore"], "--unmanaged"),
    (["--ignore-unmanaged", "tmp-*"], "--ignore-unmanaged"),
    # markdown is a plan feature; apply offers text and json only.
    (["--output", "markdown"], "--output"),
    (["--dry-run", "--output", "markdown"], "--output"),
]

# Flags `plan` does not offer: it makes no call, waits for nothing and takes no lock.
APPLY_ONLY = [
    "--concurrency",
    "--no-wait",
    "--wait-timeout",
    "--lock-timeout",
    "--auto-approve",
    "--max-destroy",
    "--min-balance-hours",
    "--dry-run",
    "--plan",
    "--commit",
    "--push",
    "--commit-message-prefix",
    "--no-skip-ci",
]


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_manifest(tmp_path / "m", "door")
    monkeypatch.chdir(tmp_path)
    # Nothing must reach a control plane, and no pricing call is tried.
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    monkeypatch.setenv(URL_ENV, "http://127.0.0.1:9")
    return tmp_path


@pytest.mark.parametrize(("args", "flag"), [pytest.param(a, f, id=" ".join(a)) for a, f in REFUSED])
def test_a_flag_the_run_would_ignore_is_a_usage_error(
    workspace: Path, capsys: pytest.CaptureFixture[str], args: list[str], flag: str
) -> None:
    state = workspace / "s.json"
    code = main(["apply", "m", "--state", str(state), *args])
    captured = capsys.readouterr()
    assert code == 1, (captured.out, captured.err)
    err = captured.err
    assert err.startswith("error: ") and err.count("\n") == 1, repr(err)
    assert flag in err, err
    assert "Traceback" not in err and "internal error" not in err
    assert captured.out == ""
    assert not list(workspace.glob("s.json*")), "nothing read, locked or written"


@pytest.mark.parametrize("flag", APPLY_ONLY)
def test_plan_refuses_apply_flags(
    workspace: Path, capsys: pytest.CaptureFixture[str], flag: str
) -> None:
    code = main(["plan", "m", "--state", str(workspace / "s.json"), flag])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: ") and err.count("\n") == 1, repr(err)
    assert flag in err


def _help(capsys: pytest.CaptureFixture[str], command: str) -> str:
    assert main([command, "--help"]) == 0
    return capsys.readouterr().out


def _offers(help_text: str, flag: str) -> bool:
    """The flag starts a line of the options list (not merely named in some help text)."""
    return re.search(rf"^\s+{re.escape(flag)}(?![-\w])", help_text, re.MULTILINE) is not None


def test_plan_help_lists_no_apply_flag(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(capsys, "plan")
    for flag in APPLY_ONLY:
        assert not _offers(text, flag), flag
    for flag in ("--out", "--refresh", "--unmanaged", "--replace", "--target", "--pricing"):
        assert flag in text, flag
    assert "[text|json|markdown]" in text


def test_apply_help_offers_text_and_json_only(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(capsys, "apply")
    assert "[text|json]" in text
    assert "markdown" not in text
    assert "--out " not in text
    for flag in APPLY_ONLY:
        assert _offers(text, flag), flag


@pytest.mark.parametrize("output", ["text", "json"])
def test_dry_run_is_exactly_plan(
    workspace: Path, capsys: pytest.CaptureFixture[str], output: str
) -> None:
    common = ["m", "--state", str(workspace / "s.json"), "--output", output]
    planned = main(["plan", *common, "--detailed-exitcode"])
    plan_out = capsys.readouterr()
    dry = main(["apply", *common, "--dry-run", "--detailed-exitcode"])
    dry_out = capsys.readouterr()
    assert (planned, plan_out.out, plan_out.err) == (dry, dry_out.out, dry_out.err)
    assert planned == 2
    if output == "json":
        assert json.loads(dry_out.out)["changes"][0]["action"] == "create"
    assert not list(workspace.glob("s.json*")), "a dry run writes nothing"
