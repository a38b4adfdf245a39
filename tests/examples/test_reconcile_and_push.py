"""The scheduled-pass script and the cron entry, run for real: the real CLI against the real
sandbox, a real clone of a bare remote, `sh` (dash on Debian) with cron's bare environment.
"""

from __future__ import annotations

import base64
import fcntl
import http.server
import json
import os
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.examples.test_example_files import SCRIPT, cron_entries
from tests.support.cli import write_manifest
from tests.support.sandbox import PROJECT_ROOT, SandboxProcess

pytestmark = pytest.mark.e2e

STATE = "tensormesh.state.json"
SECRET_HF = "hf_schedule_secret_5c1e"


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "HOME": str(cwd), "GIT_CONFIG_GLOBAL": "/dev/null"}
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env=env
    ).stdout.strip()


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    """A bare remote whose `main` holds one manifest (with a secret reference), no state."""
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    seed = tmp_path / "seed"
    git(tmp_path, "clone", "-q", str(bare), "seed")
    git(seed, "config", "user.name", "someone")
    git(seed, "config", "user.email", "someone@example.com")
    git(seed, "checkout", "-q", "-b", "main")
    write_manifest(seed / "manifests", "alpha", hfToken={"fromEnv": "HF_TOKEN"})
    git(seed, "add", "manifests")
    git(seed, "commit", "-q", "-m", "add alpha")
    git(seed, "push", "-q", "origin", "main")
    return bare


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    """What the install steps put on PATH: the CLI and the script under its installed name."""
    folder = tmp_path / "bin"
    folder.mkdir()
    cli = folder / "tensormesh-reconciler"
    cli.write_text(
        f"#!/bin/sh\nPYTHONPATH={shlex.quote(str(PROJECT_ROOT))} exec "
        f'{shlex.quote(sys.executable)} -m reconciler "$@"\n',
        encoding="utf-8",
    )
    cli.chmod(0o755)
    (folder / "tensormesh-reconcile-and-push").symlink_to(SCRIPT)
    return folder


@pytest.fixture
def token_file(tmp_path: Path, sandbox: SandboxProcess) -> Path:
    path = tmp_path / "token"
    path.write_text(sandbox.token + "\n", encoding="utf-8")  # as `echo TOKEN > file` writes it
    path.chmod(0o600)
    return path


def bare_env(tmp_path: Path, bin_dir: Path, sandbox: SandboxProcess) -> dict[str, str]:
    """Cron's environment, more or less: no token, no git identity, a bare PATH."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": str(home),
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_CONFIG_NOSYSTEM": "1",
        "TENSORMESH_CONTROL_PLANE_BASE_URL": sandbox.url,
        "HF_TOKEN": SECRET_HF,
        "NO_COLOR": "1",
    }


def run_script(env: dict[str, str], **settings: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(SCRIPT)],
        env={**env, **settings},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def remote_state(bare: Path, tmp_path: Path) -> dict[str, dict[str, object]]:
    check = tmp_path / "check"
    if check.exists():
        git(check, "pull", "-q", "origin", "main")
    else:
        git(tmp_path, "clone", "-q", "-b", "main", str(bare), "check")
    return json.loads((check / STATE).read_text(encoding="utf-8"))["entries"]  # type: ignore[no-any-return]


def entry_ids(entries: dict[str, dict[str, object]]) -> set[object]:
    return {entry["modelId"] for entry in entries.values()}


def test_first_run_clones_reconciles_and_pushes_the_state_with_skip_ci(
    tmp_path: Path, remote: Path, bin_dir: Path, token_file: Path, sandbox: SandboxProcess
) -> None:
    clone = tmp_path / "work" / "gitops"  # does not exist yet: an emptyDir's first run
    result = run_script(
        bare_env(tmp_path, bin_dir, sandbox),
        RECONCILE_REPO_DIR=str(clone),
        RECONCILE_GIT_URL=str(remote),
        RECONCILE_TOKEN_FILE=str(token_file),
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["ok"] is True
    assert "pushed the state to origin main" in result.stderr

    subject = git(remote, "log", "-1", "--format=%s", "main")
    assert subject == "tensormesh: reconcile [skip ci]"
    assert git(remote, "show", "--name-only", "--format=", "main") == STATE
    assert git(remote, "log", "-1", "--format=%an", "main") == "tensormesh-reconciler"
    live = {model["modelId"] for model in sandbox.list_models()}
    assert entry_ids(remote_state(remote, tmp_path)) == live
    assert len(live) == 1
    for secret in (sandbox.token, SECRET_HF):
        assert secret not in result.stdout + result.stderr

    # The pass did not wait for MODEL_STATUS_UP: once the model is up, the next run records
    # that live status (no drift, no call that changes anything) and pushes it.
    deadline = time.monotonic() + 30
    while [model["status"] for model in sandbox.list_models()] != ["MODEL_STATUS_UP"]:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    refreshed = run_script(
        bare_env(tmp_path, bin_dir, sandbox),
        RECONCILE_REPO_DIR=str(clone),
        RECONCILE_TOKEN_FILE=str(token_file),
    )
    assert refreshed.returncode == 0, refreshed.stderr
    assert json.loads(refreshed.stdout.splitlines()[-1])["drift"] == []
    assert git(remote, "rev-list", "--count", "main") == "3"
    assert [e["status"] for e in remote_state(remote, tmp_path).values()] == ["MODEL_STATUS_UP"]
    assert {model["modelId"] for model in sandbox.list_models()} == live  # nothing redeployed

    # Nothing drifted: the next run commits nothing and pushes nothing.
    again = run_script(
        bare_env(tmp_path, bin_dir, sandbox),
        RECONCILE_REPO_DIR=str(clone),
        RECONCILE_TOKEN_FILE=str(token_file),
    )
    assert again.returncode == 0, again.stderr
    assert "nothing to commit" in again.stderr
    assert git(remote, "rev-list", "--count", "main") == "3"


def test_a_push_refused_because_main_moved_is_rebased_and_pushed_again(
    tmp_path: Path, remote: Path, bin_dir: Path, token_file: Path, sandbox: SandboxProcess
) -> None:
    clone = tmp_path / "gitops"
    git(tmp_path, "clone", "-q", "-b", "main", str(remote), "gitops")
    # Someone pushes to main between our pull and our push: the hook runs just before it.
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", "-b", "main", str(remote), "other")
    hook = clone / ".git" / "hooks" / "pre-push"
    marker = tmp_path / "moved"
    hook.write_text(
        "#!/bin/sh\n"
        f"[ -e {marker} ] && exit 0\n"
        f"touch {marker}\n"
        f"cd {other} && echo note > NOTES.md && git add NOTES.md && "
        "git -c user.name=o -c user.email=o@example.com commit -q -m notes && "
        "git push -q origin HEAD:main\n",
        encoding="utf-8",
    )
    hook.chmod(0o755)

    result = run_script(
        bare_env(tmp_path, bin_dir, sandbox),
        RECONCILE_REPO_DIR=str(clone),
        RECONCILE_TOKEN_FILE=str(token_file),
    )
    assert result.returncode == 0, result.stderr
    assert marker.exists()
    log = git(remote, "log", "--format=%s", "main").splitlines()
    assert log[:2] == ["tensormesh: reconcile [skip ci]", "notes"]  # rebased onto theirs
    live = {model["modelId"] for model in sandbox.list_models()}
    assert entry_ids(remote_state(remote, tmp_path)) == live


def test_a_failed_pass_exits_1_and_prints_no_secret(
    tmp_path: Path, remote: Path, bin_dir: Path, sandbox: SandboxProcess
) -> None:
    wrong = tmp_path / "wrong-token"
    wrong.write_text("not-the-token-7f3a\n", encoding="utf-8")
    result = run_script(
        bare_env(tmp_path, bin_dir, sandbox),
        RECONCILE_REPO_DIR=str(tmp_path / "gitops"),
        RECONCILE_GIT_URL=str(remote),
        RECONCILE_TOKEN_FILE=str(wrong),
    )
    assert result.returncode == 1
    assert "the reconcile pass failed with exit 1" in result.stderr
    assert "Traceback" not in result.stderr
    assert "not-the-token-7f3a" not in result.stdout + result.stderr
    assert sandbox.list_models() == []


@pytest.fixture
def cron_command(tmp_path: Path, bin_dir: Path, token_file: Path, remote: Path) -> Iterator[str]:
    """The cron entry's command, with its paths moved under tmp_path; the clone in place."""
    _, ((*_, command),) = cron_entries()
    root = tmp_path / "srv"
    (root / "log").mkdir(parents=True)
    git(tmp_path, "clone", "-q", "-b", "main", str(remote), str(root / "gitops"))
    moves = {
        "/var/lib/tensormesh/gitops": str(root / "gitops"),
        "/var/lib/tensormesh/reconcile.lock": str(root / "reconcile.lock"),
        "/etc/tensormesh/token": str(token_file),
        "/var/log/tensormesh-reconciler": str(root / "log"),
    }
    for old, new in moves.items():
        assert old in command, old
        command = command.replace(old, new)
    yield command


def cron_env(tmp_path: Path, bin_dir: Path, sandbox: SandboxProcess) -> dict[str, str]:
    """Exactly what cron gives the command: the file's variables, HOME and LOGNAME; plus the
    sandbox's URL (the real entry talks to the default API URL)."""
    variables, _ = cron_entries()
    path = variables["PATH"].replace("/opt/tensormesh-reconciler/bin", str(bin_dir))
    path = path.replace("/usr/local/bin", str(bin_dir))
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {
        **{name: value for name, value in variables.items() if name != "MAILTO"},
        "PATH": path,
        "HOME": str(home),
        "LOGNAME": "tensormesh",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_CONFIG_NOSYSTEM": "1",
        "TENSORMESH_CONTROL_PLANE_BASE_URL": sandbox.url,
        "HF_TOKEN": SECRET_HF,
    }


def run_cron(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [env["SHELL"], "-c", command],
        env=env,
        cwd="/",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_cron_entry_runs_in_crons_bare_environment(
    tmp_path: Path, bin_dir: Path, remote: Path, cron_command: str, sandbox: SandboxProcess
) -> None:
    env = cron_env(tmp_path, bin_dir, sandbox)
    assert "TENSORMESH_CONTROL_PLANE_TOKEN" not in env  # only the file holds it
    result = run_cron(cron_command, env)
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert result.stdout == result.stderr == ""  # everything went to the log
    log = (tmp_path / "srv" / "log" / "reconcile.log").read_text(encoding="utf-8")
    assert "pushed the state to origin main" in log
    assert '"ok": true' in log
    assert sandbox.token not in log
    assert SECRET_HF not in log
    assert git(remote, "log", "-1", "--format=%s", "main") == "tensormesh: reconcile [skip ci]"


def test_the_cron_entry_skips_a_run_while_the_previous_one_holds_the_lock(
    tmp_path: Path, bin_dir: Path, cron_command: str, sandbox: SandboxProcess
) -> None:
    lock = tmp_path / "srv" / "reconcile.lock"
    with lock.open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a pass still running
        result = run_cron(cron_command, cron_env(tmp_path, bin_dir, sandbox))
    assert result.returncode == 1  # flock -n: this run is skipped at once
    log = tmp_path / "srv" / "log" / "reconcile.log"
    assert log.read_text(encoding="utf-8") == ""
    assert sandbox.list_models() == []


# ---- the CronJob's way: HTTPS with a push token read from a file ---------------------------


class _GitHttp(http.server.BaseHTTPRequestHandler):
    """git's smart HTTP protocol through `git http-backend`, behind Basic authentication."""

    root: Path
    expected: str  # the Authorization header a client with the token sends
    refused = 0

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        if self.headers.get("Authorization") != self.expected:
            type(self).refused += 1
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path, _, query = self.path.partition("?")
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        env = {
            "PATH": os.environ["PATH"],
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REMOTE_USER": "bot",  # pushes are served only to an authenticated user
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
        }
        out = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True, check=True
        ).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        status = 200
        headers = []
        for line in head.decode().split("\r\n"):
            name, _, value = line.partition(": ")
            if name.lower() == "status":
                status = int(value.split()[0])
            else:
                headers.append((name, value))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        del format, args  # quiet


@pytest.fixture
def https_like_remote(remote: Path) -> Iterator[tuple[str, str]]:
    """(url, token): the bare remote served over HTTP on loopback, refusing other tokens."""
    token = "ghs_push_token_9d2b"
    handler = type("Handler", (_GitHttp,), {})
    handler.root = remote.parent
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    handler.expected = f"Basic {basic}"
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/{remote.name}", token
    finally:
        server.shutdown()
        server.server_close()


def test_the_cronjob_way_clones_and_pushes_with_a_token_file_never_written_to_git_config(
    tmp_path: Path,
    remote: Path,
    bin_dir: Path,
    token_file: Path,
    sandbox: SandboxProcess,
    https_like_remote: tuple[str, str],
) -> None:
    url, push_token = https_like_remote
    git_token_file = tmp_path / "git-token"
    git_token_file.write_text(push_token + "\n", encoding="utf-8")
    clone = tmp_path / "work" / "gitops"
    clone.parent.mkdir()  # the emptyDir: exists, and is empty
    result = run_script(
        bare_env(tmp_path, bin_dir, sandbox),
        RECONCILE_REPO_DIR=str(clone),
        RECONCILE_GIT_URL=url,
        RECONCILE_TOKEN_FILE=str(token_file),
        RECONCILE_GIT_TOKEN_FILE=str(git_token_file),
    )
    assert result.returncode == 0, result.stderr
    assert git(remote, "log", "-1", "--format=%s", "main") == "tensormesh: reconcile [skip ci]"
    live = {model["modelId"] for model in sandbox.list_models()}
    assert entry_ids(remote_state(remote, tmp_path)) == live
    assert push_token not in (clone / ".git" / "config").read_text(encoding="utf-8")
    assert push_token not in result.stdout + result.stderr

    # Without the token file, the same remote refuses: the token is what let us in.
    refused = run_script(
        bare_env(tmp_path, bin_dir, sandbox),
        RECONCILE_REPO_DIR=str(tmp_path / "elsewhere"),
        RECONCILE_GIT_URL=url,
        RECONCILE_TOKEN_FILE=str(token_file),
    )
    assert refused.returncode == 1
    assert "cannot clone main of the config repository" in refused.stderr
