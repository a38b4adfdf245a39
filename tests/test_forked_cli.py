"""`run_cli`'s forked runs behave as runs in a fresh interpreter (tests/support/forked.py).

The same commands, run both ways, give the same exit code, stdout and stderr, byte for byte;
a run that changes what Python reads at start-up is never forked; a run past its timeout is
killed, as `subprocess.run` kills it.
"""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.cli import run_cli, write_manifest
from tests.support.cli_server import Channel
from tests.support.forked import MODE_ENV, base_environment, warm_server
from tests.support.sandbox import PROJECT_ROOT, SandboxProcess

pytestmark = [
    pytest.mark.cli,
    pytest.mark.skipif(
        os.environ.get(MODE_ENV) == "exec", reason="TENSORMESH_TEST_CLI=exec: no run is forked"
    ),
]


def exec_cli(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        capture_output=True,
        text=True,
        env=base_environment(env),
        cwd=cwd,
        timeout=60,
        check=False,
    )
    return done.returncode, done.stdout, done.stderr


def forked_cli(
    args: list[str], cwd: Path, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    server = warm_server()
    assert server is not None and server.can_fork(base_environment(env))
    done = run_cli(args, cwd=cwd, env=env, timeout=60)
    return done.returncode, done.stdout, done.stderr


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write_manifest(tmp_path / "m", "alpha")
    write_manifest(tmp_path / "m", "beta", gpuCount=2)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "ü-broken.yaml").write_text("kind: [\n", encoding="utf-8")
    return tmp_path


CASES = {
    "help": ["--help"],
    "version": ["--version"],
    "plan help": ["plan", "--help"],
    "valid": ["validate", "m"],
    "invalid, a non-ASCII file name": ["validate", "bad"],
    "missing folder": ["validate", "nowhere"],
    "usage error": ["plan"],
    "unknown flag": ["plan", "m", "--no-such-flag"],
    "plan as text": ["plan", "m", "--state", "s.json", "--pricing-file", "none.yaml"],
    "plan as JSON": ["plan", "m", "--state", "s.json", "--output", "json"],
    "plan as markdown": ["plan", "m", "--state", "s.json", "--output", "markdown"],
    "state list without a state": ["state", "list", "--state", "s.json"],
    "apply without approval": ["apply", "m", "--state", "s.json"],
}


@pytest.mark.parametrize("name", CASES)
def test_a_forked_run_says_what_a_fresh_interpreter_says(name: str, folder: Path) -> None:
    args = CASES[name]
    env = {"HF_TOKEN": "hf-token-value"}
    assert forked_cli(args, folder, env) == exec_cli(args, folder, env)


def test_two_reports_that_arrive_in_one_read_are_both_received() -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with ours, theirs:
        sender = Channel(theirs)
        sender.send({"pid": 12})
        sender.send({"returncode": 3})
        receiver = Channel(ours)
        assert receiver.receive() == ({"pid": 12}, [])
        assert receiver.receive() == ({"returncode": 3}, [])


def test_runs_that_end_at_once_report_their_own_exit_codes(folder: Path) -> None:
    # A supervisor's two reports (pid, then status) can arrive in one read.
    codes = [
        run_cli(["--version"] if n % 2 else ["plan"], cwd=folder).returncode for n in range(30)
    ]
    assert codes == [1, 0] * 15


def test_environment_working_directory_and_umask_are_the_runs_own(
    folder: Path, sandbox: SandboxProcess
) -> None:
    env = {**sandbox.env, "HF_TOKEN": "hf-token-value", "TENSORMESH_DEBUG": "1"}
    old = os.umask(0o077)
    try:
        forked = forked_cli(["plan", "m", "--state", "s.json", "--out", "f.plan"], folder, env)
        fresh = exec_cli(["plan", "m", "--state", "s.json", "--out", "e.plan"], folder, env)
    finally:
        os.umask(old)
    assert forked[0] == fresh[0] == 0, (forked, fresh)
    assert forked[1] == fresh[1]
    assert forked[2].replace("f.plan", "X") == fresh[2].replace("e.plan", "X")
    modes = {stat.S_IMODE((folder / name).stat().st_mode) for name in ("f.plan", "e.plan")}
    assert len(modes) == 1 and not modes.pop() & 0o077  # the test's umask, in both


def test_a_run_that_changes_start_up_variables_gets_a_fresh_interpreter(
    folder: Path, tmp_path: Path
) -> None:
    server = warm_server()
    assert server is not None
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(
        "import sys; print('a fresh interpreter read PYTHONPATH', file=sys.stderr)\n"
    )
    env = {"PYTHONPATH": f"{hooks}{os.pathsep}{PROJECT_ROOT}"}
    assert not server.can_fork(base_environment(env))
    done = run_cli(["validate", "m"], cwd=folder, env=env)
    assert done.stderr.startswith("a fresh interpreter read PYTHONPATH\n")
    assert (done.returncode, done.stdout, done.stderr) == exec_cli(["validate", "m"], folder, env)


def test_each_run_is_a_process_of_its_own_and_a_timeout_kills_it(
    folder: Path, sandbox: SandboxProcess
) -> None:
    server = warm_server()
    assert server is not None
    env = base_environment({**sandbox.env, "HF_TOKEN": "x"})
    args = ["reconcile", "m", "--state", "s.json", "--interval", "30"]
    with open(os.devnull, "rb") as stdin, open(os.devnull, "wb") as sink:
        process = server.spawn(args, env, folder, (stdin.fileno(), sink.fileno(), sink.fileno()))
        try:
            assert process.pid not in (os.getpid(), server.pid)
            deadline = time.monotonic() + 10
            while _cwd(str(process.pid)) != str(folder) and time.monotonic() < deadline:
                time.sleep(0.01)  # until the fork has taken the run's place
            assert _cwd(str(process.pid)) == str(folder)
            assert process.poll() is None
        finally:
            process.kill()
        assert process.wait(10) == -9
    with pytest.raises(subprocess.TimeoutExpired):
        run_cli(args, cwd=folder, env={**sandbox.env, "HF_TOKEN": "x"}, timeout=3)
    assert [pid for pid in os.listdir("/proc") if pid.isdigit() and _cwd(pid) == str(folder)] == []


def _cwd(pid: str) -> str:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return ""
