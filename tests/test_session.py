"""One session per command: one API client and at most one "who am I" for its whole life,
however many passes, corrections and price reads it makes; and nothing below `commands/`
reads the environment.

The pass tests run the real HTTP client against the real sandbox over loopback.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from reconciler import pipeline, reconcile
from reconciler.apply import ApplyOptions
from reconciler.session import Session, Settings
from tests.support.cli import write_manifest
from tests.support.fake_api import FakeApi
from tests.support.sandbox import PROJECT_ROOT, SandboxProcess

# Modules allowed to read os.environ: the edge (the CLI and its commands), the sandbox (a
# separate program), and git's child processes, which inherit the caller's environment
# (credential helpers, SSH agent) by design.
_EDGE = ("cli.py", "commands/", "sandbox/", "adapters/git_repo.py")


def test_nothing_below_the_commands_reads_the_environment() -> None:
    package = PROJECT_ROOT / "reconciler"
    readers = sorted(
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if not str(path.relative_to(package)).startswith(_EDGE)
        and re.search(r"\bos\.environ\b|\bos\.getenv\(|from os import .*environ", _code(path))
    )
    assert readers == []


def _code(path: Path) -> str:
    """The source without docstrings' and comments' mentions of os.environ."""
    return "\n".join(
        line
        for line in path.read_text().splitlines()
        if not line.lstrip().startswith(("#", '"', "`")) and "os.environ`" not in line
    )


def test_who_am_i_is_asked_once_per_session() -> None:
    api = FakeApi()
    session = Session(Settings(state_path="unused.json"), api=api)
    for _ in range(3):
        assert session.users.default() == session.users.for_model(None)
    assert api.whoami_calls == 1


def test_the_user_id_variable_saves_the_question() -> None:
    api = FakeApi()
    settings = Settings.resolve({"TENSORMESH_USER_ID": "u-1"}, state_path="unused.json")
    assert Session(settings, api=api).users.default() == "u-1"
    assert api.whoami_calls == 0


@pytest.mark.e2e
def test_passes_that_heal_share_one_client_and_one_whoami(
    sandbox: SandboxProcess, tmp_path: Path
) -> None:
    manifests = tmp_path / "manifests"
    for name in ("alpha", "beta"):
        write_manifest(manifests, name)
    # No TENSORMESH_USER_ID: the user is the token's, asked of GET /auth/profile.
    settings = Settings.resolve(sandbox.env, state_path=str(tmp_path / "state.json"))
    with Session(settings) as session:
        applied = pipeline.run_apply(
            [str(manifests)], session, prune=False, carry=pipeline.Carry(ApplyOptions(wait=False))
        )
        assert not applied.result.failed
        first = session.read_state().entries["alpha"].model_id
        sandbox.delete_model(first)
        reports = [
            reconcile.run_pass(number, [str(manifests)], session, options=reconcile.PassOptions())
            for number in (1, 2, 3)
        ]
        healed = session.read_state().entries["alpha"].model_id
    assert [r.error for r in reports] == [None, None, None]
    assert [o.name for o in reports[0].corrections] == ["alpha"]
    assert healed != first
    # An apply, three passes (detect, price, correct): one client, one question.
    assert session.clients_built == 1
    assert sandbox.stats()["profileCalls"] == 1


@pytest.mark.e2e
def test_a_loop_session_tries_again_after_a_bad_spell_of_the_api(
    sandbox: SandboxProcess, tmp_path: Path
) -> None:
    manifests = tmp_path / "manifests"
    write_manifest(manifests, "alpha")
    # No retries: each failing pass counts one failure towards opening the circuit.
    environ = {**sandbox.env, "TENSORMESH_RETRY_BUDGET": "0", "TENSORMESH_USER_ID": sandbox.user_id}
    settings = Settings.resolve(
        environ, state_path=str(tmp_path / "state.json"), breaker_cooldown=0.2
    )
    options = reconcile.PassOptions(detect_only=True)
    with Session(settings) as session:
        sandbox.set_faults(errorRate=1.0)
        failed = [
            reconcile.run_pass(n, [str(manifests)], session, options=options) for n in range(6)
        ]
        assert all(report.error for report in failed)
        assert "circuit" in (failed[-1].error or "")  # open: nothing was sent
        sandbox.set_faults(errorRate=0.0)
        time.sleep(0.3)
        recovered = reconcile.run_pass(7, [str(manifests)], session, options=options)
    assert recovered.error is None
