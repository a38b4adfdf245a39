"""Rotating credentials end to end: the real CLI reads its token from a file (or `tm`'s
auth.json) and a `reconcile` loop survives the sandbox revoking it between passes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import start_cli, write_manifest
from tests.support.sandbox import PROJECT_ROOT, SandboxProcess

pytestmark = pytest.mark.e2e

FILE_ENV = "TENSORMESH_CONTROL_PLANE_TOKEN_FILE"
LOOP = ["reconcile", "--interval", "1", "--output", "json"]


def issue_token(sandbox: SandboxProcess, *, revoke_others: bool) -> str:
    """A new access token; with `revoke_others` every other one is refused from now on."""
    response = sandbox.client.post("/_sandbox/tokens", json={"revokeOthers": revoke_others})
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


def rotate(path: Path, token: str) -> None:
    """As a Kubernetes Secret volume or Vault agent does: a new file moved into place."""
    temp = path.with_name(path.name + ".new")
    temp.write_text(token + "\n")
    os.replace(temp, path)


def cli_env(sandbox: SandboxProcess, **more: str) -> dict[str, str]:
    # Only the file (or the login) names the token: no TENSORMESH_CONTROL_PLANE_TOKEN.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TENSORMESH_", "TM_"))}
    env.update(
        PYTHONPATH=str(PROJECT_ROOT),
        NO_COLOR="1",
        TENSORMESH_CONTROL_PLANE_BASE_URL=sandbox.url,
        **more,
    )
    return env


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=PROJECT_ROOT,
        timeout=120,
        check=False,
    )


def test_a_reconcile_loop_survives_rotations_with_one_failed_pass_at_most(
    sandbox: SandboxProcess, tmp_path: Path
) -> None:
    manifests, state = tmp_path / "manifests", tmp_path / "state.json"
    write_manifest(manifests, "alpha")
    token_file, metrics = tmp_path / "token", tmp_path / "reconciler.prom"
    tokens = [issue_token(sandbox, revoke_others=False)]
    rotate(token_file, tokens[0])
    env = cli_env(sandbox, **{FILE_ENV: str(token_file)})
    args = [str(manifests), "--state", str(state)]
    applied = run(["apply", *args], env)
    assert applied.returncode == 0, applied.stderr

    log_path = tmp_path / "stderr.log"
    with log_path.open("w") as log_file:
        proc = start_cli(
            [*LOOP, *args, "--metrics-file", str(metrics)],
            stdout=subprocess.PIPE,
            stderr=log_file,
            cwd=PROJECT_ROOT,
            env=env,
        )
        passes: list[dict[str, Any]] = []
        try:
            assert proc.stdout is not None

            def next_pass() -> dict[str, Any]:
                line = proc.stdout.readline()  # type: ignore[union-attr]
                assert line, log_path.read_text()
                passes.append(json.loads(line))
                return passes[-1]

            assert next_pass()["ok"] is True
            # 1. The file is rotated between passes (the old token revoked at once): the
            #    next pass sees the file's new stat and never meets a 401.
            tokens.append(issue_token(sandbox, revoke_others=True))
            rotate(token_file, tokens[-1])
            assert next_pass()["ok"] is True
            # 2. The token is revoked and the file not yet rotated: that pass meets the
            #    401, re-reads the file, finds nothing new and fails, saying what to do.
            tokens.append(issue_token(sandbox, revoke_others=True))
            refused = next_pass()
            assert refused["ok"] is False
            assert "HTTP 401" in refused["error"] and "tm auth print-token" in refused["error"]
            assert FILE_ENV in refused["error"]
            # 3. The rotation lands: the very next pass is fine again.
            rotate(token_file, tokens[-1])
            assert next_pass()["ok"] is True
            assert next_pass()["ok"] is True
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    assert proc.returncode == 0
    assert [p["ok"] for p in passes] == [True, True, False, True, True]
    samples = dict(
        line.rsplit(" ", 1) for line in metrics.read_text().splitlines() if line[0] != "#"
    )
    assert samples["tensormesh_reconciler_auth_failures_total"] == "1"
    assert samples['tensormesh_reconciler_passes_total{result="error"}'] == "1"
    shown = log_path.read_text() + json.dumps(passes) + metrics.read_text()
    for token in tokens:
        assert token not in shown
    assert sum(sandbox.stats()["authRejected"].values()) >= 1


def test_a_401_mid_loop_reads_the_rotated_file_and_no_pass_fails(
    sandbox: SandboxProcess, tmp_path: Path
) -> None:
    """The file changes with no new stat to see (same inode, size and mtime, as a coarse
    clock allows): the 401 itself makes the client read it again and resend that call."""
    manifests, state = tmp_path / "manifests", tmp_path / "state.json"
    write_manifest(manifests, "alpha")
    token_file, metrics = tmp_path / "token", tmp_path / "reconciler.prom"
    old = issue_token(sandbox, revoke_others=False)
    token_file.write_text(old)
    env = cli_env(sandbox, **{FILE_ENV: str(token_file)})
    args = [str(manifests), "--state", str(state)]
    assert run(["apply", *args, "--no-wait"], env).returncode == 0

    log_path = tmp_path / "stderr.log"
    with log_path.open("w") as log_file:
        proc = start_cli(
            [*LOOP, *args, "--metrics-file", str(metrics)],
            stdout=subprocess.PIPE,
            stderr=log_file,
            cwd=PROJECT_ROOT,
            env=env,
        )
        try:
            assert proc.stdout is not None
            first = json.loads(proc.stdout.readline() or "null")
            assert first is not None and first["ok"] is True, log_path.read_text()
            new = issue_token(sandbox, revoke_others=True)
            assert len(new) == len(old)
            stat = token_file.stat()
            with token_file.open("r+") as file:
                file.write(new)
            os.utime(token_file, ns=(stat.st_atime_ns, stat.st_mtime_ns))
            second = json.loads(proc.stdout.readline() or "null")
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    assert second is not None and second["ok"] is True, log_path.read_text()
    samples = dict(
        line.rsplit(" ", 1) for line in metrics.read_text().splitlines() if line[0] != "#"
    )
    assert samples["tensormesh_reconciler_auth_failures_total"] == "1"
    assert samples['tensormesh_reconciler_passes_total{result="error"}'] == "0"
    shown = log_path.read_text() + json.dumps([first, second])
    assert old not in shown and new not in shown


def test_tm_login_is_used_when_no_token_is_set(sandbox: SandboxProcess, tmp_path: Path) -> None:
    manifests, state = tmp_path / "manifests", tmp_path / "state.json"
    write_manifest(manifests, "alpha")
    config = tmp_path / "tm-config"
    config.mkdir()
    login = {"access_token": issue_token(sandbox, revoke_others=False), "refresh_token": "r"}
    (config / "auth.json").write_text(json.dumps(login))
    env = cli_env(sandbox, TM_CONFIG_HOME=str(config), HOME=str(tmp_path))
    result = run(["apply", str(manifests), "--state", str(state), "--no-wait"], env)
    assert result.returncode == 0, result.stderr
    assert login["access_token"] not in result.stdout + result.stderr

    # Without any token: one usage error naming every way to give one, no call made.
    requests = sandbox.stats()["requests"]
    result = run(["plan", str(manifests), "--state", str(state), "--refresh"], cli_env(sandbox))
    assert result.returncode == 1
    assert "TENSORMESH_CONTROL_PLANE_TOKEN is not set" in result.stderr
    assert "tm auth login" in result.stderr and "Traceback" not in result.stderr
    assert sandbox.stats()["requests"] == requests
