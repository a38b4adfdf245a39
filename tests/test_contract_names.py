"""Every command-line name contract.md §7 fixes appears in that command's `--help`.

Outside checks use these names; a rename or a dropped flag must fail here first. The table
is copied by hand from §7 (nothing parses the contract): a new name there gets a new row.
In-process (reconciler.cli.main), so it costs no subprocess.
"""

from __future__ import annotations

import re

import pytest

from reconciler.cli import main

PLAN_APPLY_RECONCILE = ("plan", "apply", "reconcile")

# (command, name): the name must appear in `tensormesh-reconciler COMMAND --help`.
NAMES: tuple[tuple[str, str], ...] = (
    # Ownership and write-back.
    ("state", "merge-driver"),
    ("state merge-driver", "BASE OURS THEIRS"),
    ("reconcile", "--pull"),
    # Selection and guard rails (the table).
    *((command, "--target") for command in PLAN_APPLY_RECONCILE),
    *((command, "--exclude") for command in PLAN_APPLY_RECONCILE),
    *((command, "--selector") for command in PLAN_APPLY_RECONCILE),
    ("plan", "--replace"),
    ("apply", "--replace"),
    ("apply", "--auto-approve"),
    ("reconcile", "--auto-approve"),
    ("apply", "--max-destroy"),
    ("reconcile", "--max-destroy"),
    ("reconcile", "--heal-changed"),
    ("reconcile", "--unmanaged [report|ignore]"),
    ("plan", "--unmanaged [report|ignore]"),
    ("plan", "--refresh"),
    # Cost.
    *((command, "--pricing") for command in PLAN_APPLY_RECONCILE),
    *((command, "--allow-unpriced") for command in PLAN_APPLY_RECONCILE),
    *((command, "--max-hourly-increase") for command in PLAN_APPLY_RECONCILE),
    # Service (pull/serve).
    *(
        ("reconcile", flag)
        for flag in ("--git", "--ref", "--path", "--workdir", "--verify-commits", "--serve")
    ),
    # Onboarding.
    *(
        ("adopt", flag)
        for flag in (
            "--out",
            "--state",
            "--user",
            "--target",
            "--exclude",
            "--secret",
            "--include-failed",
            "--dry-run",
            "--output [text|json]",
        )
    ),
)

# PostgreSQL (team-scale issue).
LATER: tuple[tuple[str, str], ...] = (
    *((command, "--workspace") for command in PLAN_APPLY_RECONCILE),
    ("state", "migrate"),
    ("state", "history"),
    ("state migrate", "--to"),
    ("state migrate", "--from"),
    ("state migrate", "--workspace"),
    ("state history", "--workspace"),
    ("state history", "--limit"),
    ("state history", "--output"),
)


def _help(command: str, capsys: pytest.CaptureFixture[str]) -> str:
    code = main([*command.split(), "--help"])
    out = capsys.readouterr().out
    assert code == 0, f"`{command} --help` exited {code}"
    return out


def _shows(text: str, name: str) -> bool:
    # A whole name: `--target` must not be found inside `--targets` or `--no-target`.
    return re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text) is not None


@pytest.mark.parametrize(("command", "name"), NAMES, ids=[f"{c}:{n}" for c, n in NAMES])
def test_every_contract_name_is_in_its_command_help(
    command: str, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _shows(_help(command, capsys), name), f"`{command} --help` does not show {name}"


@pytest.mark.parametrize(
    ("command", "name"),
    [pytest.param(c, n, id=f"{c}:{n}") for c, n in LATER],
)
def test_postgresql_names_are_in_their_command_help(
    command: str, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _shows(_help(command, capsys), name), f"`{command} --help` does not show {name}"


def test_a_missing_name_is_found_missing(capsys: pytest.CaptureFixture[str]) -> None:
    # The check itself can fail: a near name is not the name.
    text = _help("plan", capsys)
    assert _shows(text, "--target")
    assert not _shows(text, "--targ")
    assert not _shows(text, "--heal-changed")  # reconcile's, not plan's
