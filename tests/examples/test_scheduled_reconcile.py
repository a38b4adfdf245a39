"""The scheduled reconcile examples run for real: the cron entry (`sh` with cron's bare
environment, a long-lived clone) and the Kubernetes CronJob's two commands (clone, then
`reconcile --once --push`) with the environment its YAML gives them; the real CLI against
the real sandbox, real clones of a bare remote (over HTTP with a token for the CronJob).
"""

from __future__ import annotations

import base64
import fcntl
import http.server
import json
import os
import re
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.examples.pod_security import pod_spec_of
from tests.examples.test_example_files import CRONJOB, cron_entries
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
    """What the install steps put on PATH: the CLI."""
    folder = tmp_path / "bin"
    folder.mkdir()
    cli = folder / "tensormesh-reconciler"
    cli.write_text(
        f"#!/bin/sh\nPYTHONPATH={shlex.quote(str(PROJECT_ROOT))} exec "
        f'{shlex.quote(sys.executable)} -m reconciler "$@"\n',
        encoding="utf-8",
    )
    cli.chmod(0o755)
    return folder


@pytest.fixture
def token_file(tmp_path: Path, sandbox: SandboxProcess) -> Path:
    path = tmp_path / "token"
    path.write_text(sandbox.token + "\n", encoding="utf-8")  # as `echo TOKEN > file` writes it
    path.chmod(0o600)
    return path


def remote_state(bare: Path, tmp_path: Path) -> dict[str, dict[str, object]]:
    check = tmp_path / "check"
    if check.exists():
        git(check, "pull", "-q", "origin", "main")
    else:
        git(tmp_path, "clone", "-q", "-b", "main", str(bare), "check")
    return json.loads((check / STATE).read_text(encoding="utf-8"))["entries"]  # type: ignore[no-any-return]


def entry_ids(entries: dict[str, dict[str, object]]) -> set[object]:
    return {entry["modelId"] for entry in entries.values()}


def live_ids(sandbox: SandboxProcess) -> set[object]:
    return {m["modelId"] for m in sandbox.list_models() if m["status"] != "MODEL_STATUS_DELETED"}


# ---- cron: a long-lived clone, `reconcile --once --pull --push` -----------------------------

CRON_PATHS = {
    "/var/lib/tensormesh/gitops": "srv/gitops",
    "/var/lib/tensormesh/reconcile.lock": "srv/reconcile.lock",
    "/var/log/tensormesh-reconciler": "srv/log",
}


@pytest.fixture
def cron_command(tmp_path: Path, bin_dir: Path, remote: Path) -> Iterator[str]:
    """The cron entry's command, with its paths moved under tmp_path; the clone made as the
    install steps make it (with the commit identity in its config)."""
    _, ((*_, command),) = cron_entries()
    (tmp_path / "srv" / "log").mkdir(parents=True)
    clone = tmp_path / "srv" / "gitops"
    git(tmp_path, "clone", "-q", "-b", "main", str(remote), str(clone))
    git(clone, "config", "user.name", "tensormesh-reconciler")
    git(clone, "config", "user.email", "tensormesh-reconciler@localhost")
    for old, new in CRON_PATHS.items():
        assert old in command, old
        command = command.replace(old, str(tmp_path / new))
    yield command


def cron_env(
    tmp_path: Path, bin_dir: Path, sandbox: SandboxProcess, token_file: Path
) -> dict[str, str]:
    """Exactly what cron gives the command: the file's variables, HOME and LOGNAME; plus the
    sandbox's URL (the real entry talks to the default API URL)."""
    variables, _ = cron_entries()
    path = variables["PATH"].replace("/opt/tensormesh-reconciler/bin", str(bin_dir))
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {name: value for name, value in variables.items() if name != "MAILTO"}
    assert env["TENSORMESH_CONTROL_PLANE_TOKEN_FILE"] == "/etc/tensormesh/token"
    return {
        **env,
        "TENSORMESH_CONTROL_PLANE_TOKEN_FILE": str(token_file),
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


def read_log(tmp_path: Path) -> str:
    return (tmp_path / "srv" / "log" / "reconcile.log").read_text(encoding="utf-8")


def test_the_cron_entry_runs_in_crons_bare_environment_and_pushes_the_state(
    tmp_path: Path,
    bin_dir: Path,
    remote: Path,
    cron_command: str,
    sandbox: SandboxProcess,
    token_file: Path,
) -> None:
    env = cron_env(tmp_path, bin_dir, sandbox, token_file)
    assert "TENSORMESH_CONTROL_PLANE_TOKEN" not in env  # only the file holds it
    result = run_cron(cron_command, env)
    assert result.returncode == 0, (result.stdout, result.stderr, read_log(tmp_path))
    assert result.stdout == result.stderr == ""  # everything went to the log
    log = read_log(tmp_path)
    assert '"ok": true' in log
    assert "pushed to origin main" in log
    assert sandbox.token not in log and SECRET_HF not in log
    assert git(remote, "log", "-1", "--format=%s", "main") == (
        "tensormesh: reconcile 1 created [skip ci]"
    )
    assert git(remote, "show", "--name-only", "--format=", "main") == STATE
    assert git(remote, "log", "-1", "--format=%an", "main") == "tensormesh-reconciler"
    assert entry_ids(remote_state(remote, tmp_path)) == live_ids(sandbox)
    assert len(live_ids(sandbox)) == 1

    # Nothing drifted: the next run at most writes back the live status the first did not
    # wait for (INIT -> UP); the one after it commits and pushes nothing.
    again = run_cron(cron_command, env)
    assert again.returncode == 0, read_log(tmp_path)
    settled = git(remote, "rev-list", "--count", "main")
    assert settled in ("2", "3")
    third = run_cron(cron_command, env)
    assert third.returncode == 0, read_log(tmp_path)
    assert git(remote, "rev-list", "--count", "main") == settled


def test_the_cron_entry_pulls_what_ci_pushed_before_its_pass(
    tmp_path: Path,
    bin_dir: Path,
    remote: Path,
    cron_command: str,
    sandbox: SandboxProcess,
    token_file: Path,
) -> None:
    """--pull: a model added on main after the clone was made is deployed by the next run,
    and the state that records it is pushed on top of that commit."""
    env = cron_env(tmp_path, bin_dir, sandbox, token_file)
    assert run_cron(cron_command, env).returncode == 0, read_log(tmp_path)
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", "-b", "main", str(remote), "other")
    write_manifest(other / "manifests", "beta")
    git(other, "add", "manifests")
    git(other, "-c", "user.name=o", "-c", "user.email=o@example.com", "commit", "-q", "-m", "beta")
    git(other, "push", "-q", "origin", "main")

    result = run_cron(cron_command, env)
    assert result.returncode == 0, read_log(tmp_path)
    log = git(remote, "log", "--format=%s", "main").splitlines()
    assert log[:2] == ["tensormesh: reconcile 1 created [skip ci]", "beta"]
    names = {m["modelName"] for m in sandbox.list_models()}
    assert names == {"alpha", "beta"}
    assert entry_ids(remote_state(remote, tmp_path)) == live_ids(sandbox)


def test_a_push_refused_because_main_moved_is_rebased_and_pushed_again(
    tmp_path: Path,
    bin_dir: Path,
    remote: Path,
    cron_command: str,
    sandbox: SandboxProcess,
    token_file: Path,
) -> None:
    clone = tmp_path / "srv" / "gitops"
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

    result = run_cron(cron_command, cron_env(tmp_path, bin_dir, sandbox, token_file))
    assert result.returncode == 0, read_log(tmp_path)
    assert marker.exists()
    log = git(remote, "log", "--format=%s", "main").splitlines()
    assert log[:2] == ["tensormesh: reconcile 1 created [skip ci]", "notes"]  # rebased
    assert entry_ids(remote_state(remote, tmp_path)) == live_ids(sandbox)


def test_a_failed_pass_exits_1_and_logs_no_secret(
    tmp_path: Path, bin_dir: Path, remote: Path, cron_command: str, sandbox: SandboxProcess
) -> None:
    wrong = tmp_path / "wrong-token"
    wrong.write_text("not-the-token-7f3a\n", encoding="utf-8")
    result = run_cron(cron_command, cron_env(tmp_path, bin_dir, sandbox, wrong))
    assert result.returncode == 1
    log = read_log(tmp_path)
    assert "HTTP 401" in log and "tm auth login" in log
    assert "Traceback" not in log
    assert "not-the-token-7f3a" not in log
    assert sandbox.list_models() == []
    assert git(remote, "rev-list", "--count", "main") == "1"


def test_the_cron_entry_skips_a_run_while_the_previous_one_holds_the_lock(
    tmp_path: Path, bin_dir: Path, cron_command: str, sandbox: SandboxProcess, token_file: Path
) -> None:
    lock = tmp_path / "srv" / "reconcile.lock"
    with lock.open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a pass still running
        result = run_cron(cron_command, cron_env(tmp_path, bin_dir, sandbox, token_file))
    assert result.returncode == 1  # flock -n: this run is skipped at once
    assert read_log(tmp_path) == ""
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


class _GitHttpServer(http.server.ThreadingHTTPServer):
    # socketserver's default backlog is 5: on a loaded machine git's connections could meet a
    # full accept queue (a guess at one "Connection reset by peer" seen under load).
    request_queue_size = 64


@pytest.fixture
def https_like_remote(remote: Path) -> Iterator[tuple[str, str]]:
    """(url, token): the bare remote served over HTTP on loopback, refusing other tokens."""
    token = "ghs_push_token_9d2b"
    handler = type("Handler", (_GitHttp,), {})
    handler.root = remote.parent
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    handler.expected = f"Basic {basic}"
    server = _GitHttpServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/{remote.name}", token
    finally:
        server.shutdown()
        server.server_close()


class CronJobRun:
    """The CronJob's pod, run as processes: each container's command with the environment
    its YAML gives it (the ConfigMap's settings and its own `env`), paths moved under a
    temporary root, the secrets as files, the git URL pointed at a local server."""

    def __init__(self, root: Path, bin_dir: Path, url: str, secret_values: dict[str, str]):
        documents = [d for d in yaml.safe_load_all(CRONJOB.read_text(encoding="utf-8")) if d]
        (self.settings,) = [d["data"] for d in documents if d["kind"] == "ConfigMap"]
        (cronjob,) = [d for d in documents if d["kind"] == "CronJob"]
        self.pod = pod_spec_of(cronjob)
        self.root, self.bin_dir, self.url = root, bin_dir, url
        self.secret_values = secret_values
        self.moves = {"/work": root / "work", "/tmp": root / "tmp", "/secrets": root / "secrets"}
        for path in self.moves.values():
            path.mkdir(parents=True, exist_ok=True)
        for volume in self.pod["volumes"]:  # each Secret volume's items, as files
            if "secret" not in volume:
                continue
            mount = self._mount_of(volume["name"])
            for item in volume["secret"]["items"]:
                target = Path(self.move(f"{mount}/{item['path']}"))
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(secret_values[item["key"]] + "\n", encoding="utf-8")

    def _mount_of(self, volume: str) -> str:
        for container in (*self.pod["initContainers"], *self.pod["containers"]):
            for mount in container["volumeMounts"]:
                if mount["name"] == volume:
                    return str(mount["mountPath"])
        raise AssertionError(f"volume {volume} is not mounted")

    def move(self, text: str) -> str:
        text = text.replace("https://github.com/your-org/gitops.git", self.url)
        # One pass, and only where a path starts: a moved path is never moved again.
        return re.sub(
            r"(?<![\w./-])(/work|/tmp|/secrets)(?=/|$|[^\w.-])",
            lambda match: str(self.moves[match.group(1)]),
            text,
        )

    def run(
        self, container: dict[str, Any], extra: dict[str, str]
    ) -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": f"{self.bin_dir}:/usr/bin:/bin",
            "GIT_CONFIG_GLOBAL": "/dev/null",
            "GIT_CONFIG_NOSYSTEM": "1",
            **{name: self.move(value) for name, value in self.settings.items()},
            **extra,
        }
        for item in container.get("env", []):
            if "value" in item:
                env[item["name"]] = self.move(item["value"])
            else:
                env[item["name"]] = self.secret_values[item["valueFrom"]["secretKeyRef"]["key"]]
        return subprocess.run(
            [self.move(arg) for arg in container["command"]],
            env=env,
            cwd=self.move(container.get("workingDir", "/")),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def run_pod(self, extra: dict[str, str]) -> list[subprocess.CompletedProcess[str]]:
        done = []
        for container in (*self.pod["initContainers"], *self.pod["containers"]):
            done.append(self.run(container, extra))
            if done[-1].returncode != 0:
                break  # as Kubernetes: a failed init container ends the pod
        return done


def test_the_cronjob_clones_reconciles_and_pushes_with_token_files_never_in_git_config(
    tmp_path: Path,
    remote: Path,
    bin_dir: Path,
    sandbox: SandboxProcess,
    https_like_remote: tuple[str, str],
) -> None:
    url, push_token = https_like_remote
    secrets = {"control-plane-token": sandbox.token, "git-token": push_token, "HF_TOKEN": SECRET_HF}
    pod = CronJobRun(tmp_path / "pod", bin_dir, url, secrets)
    extra = {"TENSORMESH_CONTROL_PLANE_BASE_URL": sandbox.url}
    clone, reconcile = pod.run_pod(extra)
    assert clone.returncode == 0, clone.stderr
    assert reconcile.returncode == 0, reconcile.stdout + reconcile.stderr
    assert json.loads(reconcile.stdout)["ok"] is True
    assert git(remote, "log", "-1", "--format=%s", "main") == (
        "tensormesh: reconcile 1 created [skip ci]"
    )
    assert git(remote, "log", "-1", "--format=%an", "main") == "tensormesh-reconciler"
    assert entry_ids(remote_state(remote, tmp_path)) == live_ids(sandbox)
    config = (tmp_path / "pod" / "work" / "gitops" / ".git" / "config").read_text("utf-8")
    for secret in secrets.values():
        assert secret not in config
        assert secret not in clone.stdout + clone.stderr + reconcile.stdout + reconcile.stderr

    # The next run (a fresh emptyDir) at most writes back the live status the first did not
    # wait for (INIT -> UP); the one after it finds nothing to do and pushes nothing.
    again = CronJobRun(tmp_path / "pod2", bin_dir, url, secrets).run_pod(extra)
    assert [step.returncode for step in again] == [0, 0], again[-1].stderr
    settled = git(remote, "rev-list", "--count", "main")
    assert settled in ("2", "3")
    third = CronJobRun(tmp_path / "pod2b", bin_dir, url, secrets).run_pod(extra)
    assert [step.returncode for step in third] == [0, 0], third[-1].stderr
    assert git(remote, "rev-list", "--count", "main") == settled

    # Without the push token the same remote refuses: the token is what let us in.
    refused = CronJobRun(tmp_path / "pod3", bin_dir, url, {**secrets, "git-token": "wrong"})
    (failed_clone,) = refused.run_pod(extra)
    assert failed_clone.returncode != 0
