"""Git write-back end to end: `apply --commit/--push` in a real repository with a bare remote."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.cli import assert_clean_failure, run_cli, write_manifest

pytestmark = pytest.mark.e2e

SECRET = "hf_writeback_secret_77d1"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env=_git_env(cwd)
    ).stdout.strip()


def _git_env(cwd: Path) -> dict[str, str]:
    import os

    # No global or system git config: the identity is the one set in each test repository.
    return {
        **os.environ,
        "HOME": str(cwd),
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_CONFIG_NOSYSTEM": "1",
    }


def clone(remote: Path, path: Path, who: str) -> Path:
    git(path.parent, "clone", "-q", str(remote), path.name)
    git(path, "config", "user.name", who)
    git(path, "config", "user.email", f"{who}@example.com")
    return path


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, Path]:
    """A bare remote with `main`, and a clone of it holding one manifest."""
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    work = clone(bare, tmp_path / "work", "tensormesh-bot")
    write_manifest(work / "manifests", "alpha", hfToken={"fromEnv": "HF_TOKEN"})
    git(work, "add", "manifests")
    git(work, "commit", "-q", "-m", "add alpha")
    git(work, "push", "-q", "-u", "origin", "main")
    return bare, work


def apply(sandbox, work: Path, *extra: str):  # type: ignore[no-untyped-def]
    env = {**sandbox.env, **_git_env(work), "HF_TOKEN": SECRET}
    args = ["apply", "manifests", "--state", "tensormesh.state.json", "--no-wait", *extra]
    return run_cli(args, env=env, cwd=work)


def test_one_commit_per_apply_with_changes_and_none_without(sandbox, repo) -> None:  # type: ignore[no-untyped-def]
    _, work = repo
    first = apply(sandbox, work, "--commit")
    assert first.returncode == 0, first.stderr
    assert git(work, "rev-list", "--count", "HEAD") == "2"
    subject, *body = git(work, "log", "-1", "--format=%B").splitlines()
    assert subject == "tensormesh: apply 1 created [skip ci]"
    model_id = sandbox.list_models()[0]["modelId"]
    assert f"created alpha model {model_id}" in body
    assert git(work, "show", "--name-only", "--format=", "HEAD") == "tensormesh.state.json"
    assert git(work, "log", "-1", "--format=%an") == "tensormesh-bot"

    unchanged = apply(sandbox, work, "--commit")
    assert unchanged.returncode == 0, unchanged.stderr
    assert git(work, "rev-list", "--count", "HEAD") == "2"

    write_manifest(work / "manifests", "alpha", gpuCount=2, hfToken={"fromEnv": "HF_TOKEN"})
    replaced = apply(sandbox, work, "--commit", "--no-skip-ci", "--commit-message-prefix", "ops:")
    assert replaced.returncode == 0, replaced.stderr
    assert git(work, "log", "-1", "--format=%s") == "ops: apply 1 replaced"
    history = git(work, "log", "-p")
    assert SECRET not in history
    assert "hmac-sha256:" in history  # fingerprints only


def test_push_recovers_from_a_rejected_push(sandbox, repo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bare, work = repo
    other = clone(bare, tmp_path / "other", "someone")
    (other / "NOTES.md").write_text("pushed first\n")
    git(other, "add", "NOTES.md")
    git(other, "commit", "-q", "-m", "someone else's change")
    git(other, "push", "-q", "origin", "main")

    pushed = apply(sandbox, work, "--push")
    assert pushed.returncode == 0, pushed.stderr
    assert "after 1 rebase" in pushed.stderr
    # The hash pushed is the rebased commit, the one now on the remote (not the first made).
    remote_head = git(bare, "rev-parse", "main")
    assert f"pushed {remote_head[:12]} to origin main" in pushed.stderr
    remote_log = git(bare, "log", "--format=%s", "main").splitlines()
    assert remote_log == [
        "tensormesh: apply 1 created [skip ci]",
        "someone else's change",
        "add alpha",
    ]


def test_missing_identity_fails_before_anything_is_deployed(sandbox, repo) -> None:  # type: ignore[no-untyped-def]
    _, work = repo
    git(work, "config", "--unset", "user.name")
    git(work, "config", "--unset", "user.email")
    result = apply(sandbox, work, "--commit")
    assert_clean_failure(result)
    assert "no git identity is configured" in result.stderr
    assert sandbox.stats()["creates"] == {}
