"""Pull mode (`reconcile --git URL --ref BRANCH --path DIR --workdir DIR`) with the real CLI,
the real sandbox, a bare remote and real commits: each pass fetches and reconciles exactly
the fetched revision, records it, writes a state kept in the clone back, refuses a branch
force-pushed back, and with --verify-commits refuses commits not signed by an allowed key."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import assert_clean_failure, run_cli, write_manifest
from tests.support.gitrepos import STATE, cli_env, commit_all, git, make_remote
from tests.support.sandbox import SandboxProcess

pytestmark = pytest.mark.e2e

BOT = {
    "GIT_AUTHOR_NAME": "tensormesh-bot",
    "GIT_AUTHOR_EMAIL": "bot@example.com",
    "GIT_COMMITTER_NAME": "tensormesh-bot",
    "GIT_COMMITTER_EMAIL": "bot@example.com",
}


def pull_pass(
    sandbox: SandboxProcess, tmp_path: Path, remote: Path, *extra: str, state: str | None = None
) -> subprocess.CompletedProcess[str]:
    args = ["reconcile", "--git", str(remote), "--ref", "main", "--path", "manifests"]
    args += ["--workdir", str(tmp_path / "work"), "--once", "--output", "json"]
    args += ["--state", state or str(tmp_path / "outside" / STATE), *extra]
    env = {**cli_env(sandbox.env, tmp_path), **BOT}
    return run_cli(args, env=env, cwd=tmp_path)


def report(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.stdout, result.stderr
    loaded: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    return loaded


def live_names(sandbox: SandboxProcess) -> set[str]:
    return {m["modelName"] for m in sandbox.list_models() if "DELETED" not in m["status"]}


def tip(remote: Path) -> str:
    return git(remote, "rev-parse", "main")


def test_a_commit_pushed_between_passes_is_applied_by_the_next(
    sandbox: SandboxProcess, tmp_path: Path
) -> None:
    remote = make_remote(tmp_path)
    (tmp_path / "outside").mkdir()
    metrics = tmp_path / "outside" / "metrics.prom"
    first = pull_pass(sandbox, tmp_path, remote, "--metrics-file", str(metrics))
    assert first.returncode == 0, first.stderr
    assert report(first)["revision"] == tip(remote)
    assert live_names(sandbox) == {"alpha"}
    state = json.loads((tmp_path / "outside" / STATE).read_text())
    assert state["revision"] == tip(remote)
    assert f'revision_info{{revision="{tip(remote)}"}} 1' in metrics.read_text()

    # Between the passes: someone pushes beta.
    seed = tmp_path / "seed"
    write_manifest(seed / "manifests", "beta")
    pushed = commit_all(seed, "add beta")
    git(seed, "push", "-q", "origin", "HEAD:main")

    second = pull_pass(sandbox, tmp_path, remote, "--output", "text")
    assert second.returncode == 0, second.stderr
    assert f"Pass 1 at {pushed[:12]}:" in second.stdout
    assert live_names(sandbox) == {"alpha", "beta"}
    assert json.loads((tmp_path / "outside" / STATE).read_text())["revision"] == pushed
    # Exactly the fetched revision is checked out in the reconciler's own clone.
    assert git(tmp_path / "work", "rev-parse", "HEAD") == pushed


def test_a_state_in_the_clone_is_committed_and_pushed_back(
    sandbox: SandboxProcess, tmp_path: Path
) -> None:
    remote = make_remote(tmp_path)
    first = pull_pass(sandbox, tmp_path, remote, state=STATE)
    assert first.returncode == 0, first.stderr
    manifests_commit = report(first)["revision"]
    pushed = json.loads(git(remote, "show", f"main:{STATE}"))
    assert set(pushed["entries"]) == {"alpha"}
    assert pushed["revision"] == manifests_commit
    assert git(remote, "rev-parse", "main^") == manifests_commit
    assert "[skip ci]" in git(remote, "log", "-1", "--format=%s", "main")

    # The next pass fetches our own commit, finds nothing to do and commits nothing.
    again = pull_pass(sandbox, tmp_path, remote, state=STATE)
    assert again.returncode == 0, again.stderr
    assert report(again)["revision"] == tip(remote)
    assert git(remote, "rev-list", "--count", "main") == "2"


def test_a_branch_force_pushed_back_is_refused(sandbox: SandboxProcess, tmp_path: Path) -> None:
    remote = make_remote(tmp_path)
    older = tip(remote)
    assert pull_pass(sandbox, tmp_path, remote).returncode == 0
    seed = tmp_path / "seed"
    (seed / "manifests" / "alpha.yaml").unlink()
    write_manifest(seed / "manifests", "beta")
    commit_all(seed, "alpha out, beta in")
    git(seed, "push", "-q", "origin", "HEAD:main")
    newer = pull_pass(sandbox, tmp_path, remote, "--prune")
    assert newer.returncode == 0, newer.stderr
    assert live_names(sandbox) == {"beta"}

    git(seed, "push", "-q", "--force", "origin", f"{older}:main")
    before = sandbox.stats()
    refused = pull_pass(sandbox, tmp_path, remote, "--prune", "--output", "text")
    assert_clean_failure(refused)
    assert "force-pushed back" in refused.stdout
    assert older[:12] in refused.stdout
    # No API call and nothing rolled back: alpha stays deleted, beta stays.
    assert live_names(sandbox) == {"beta"}
    after = sandbox.stats()
    assert (after["createCalls"], after["deletes"]) == (before["createCalls"], before["deletes"])
    assert git(tmp_path / "work", "rev-parse", "HEAD") != older


def _key(tmp_path: Path, name: str) -> Path:
    key = tmp_path / "keys" / name
    key.parent.mkdir(exist_ok=True)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True
    )
    return key


def _signed_commit(seed: Path, key: Path | None, name: str) -> str:
    write_manifest(seed / "manifests", name)
    git(seed, "add", "-A", ".")
    sign = ["-c", "gpg.format=ssh", "-c", f"user.signingkey={key}"] if key else []
    git(seed, *sign, "commit", "-q", *(["-S"] if key else []), "-m", f"add {name}")
    git(seed, "push", "-q", "origin", "HEAD:main")
    return git(seed, "rev-parse", "HEAD")


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen")
def test_verify_commits_refuses_unsigned_and_wrongly_signed_revisions(
    sandbox: SandboxProcess, tmp_path: Path
) -> None:
    remote = make_remote(tmp_path)
    seed = tmp_path / "seed"
    trusted, stranger = _key(tmp_path, "trusted"), _key(tmp_path, "stranger")
    allowed = tmp_path / "allowed_signers"
    public = trusted.with_suffix(".pub").read_text().split()
    allowed.write_text(f'seed@example.com namespaces="git" {public[0]} {public[1]}\n')
    verify = ("--verify-commits", str(allowed))

    unsigned = pull_pass(sandbox, tmp_path, remote, *verify, "--output", "text")
    assert_clean_failure(unsigned)
    assert "is not signed by a key in" in unsigned.stdout
    assert live_names(sandbox) == set()

    _signed_commit(seed, stranger, "beta")
    wrong = pull_pass(sandbox, tmp_path, remote, *verify, "--output", "text")
    assert_clean_failure(wrong)
    assert "is not signed by a key in" in wrong.stdout
    assert live_names(sandbox) == set()

    good = _signed_commit(seed, trusted, "gamma")
    accepted = pull_pass(sandbox, tmp_path, remote, *verify)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert report(accepted)["revision"] == good
    assert live_names(sandbox) == {"alpha", "beta", "gamma"}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["manifests"], "drop the PATH arguments"),
        (["--pull"], "drop --pull/--push"),
        (["--path", "../elsewhere"], "inside the repository"),
        (["--ref", "main~1"], "is not a branch name"),
        (["--serve", "localhost:http"], "give HOST:PORT"),
    ],
)
def test_pull_mode_flag_mistakes_are_usage_errors(
    tmp_path: Path, extra: list[str], message: str
) -> None:
    args = ["reconcile", "--git", str(tmp_path / "none.git"), "--workdir", str(tmp_path / "w")]
    result = run_cli([*args, "--once", *extra], cwd=tmp_path)
    assert_clean_failure(result)
    assert message in result.stderr


def test_an_unreachable_repository_is_one_clear_error(
    sandbox: SandboxProcess, tmp_path: Path
) -> None:
    result = pull_pass(sandbox, tmp_path, tmp_path / "nowhere.git")
    assert_clean_failure(result)
    assert "cannot fetch main from" in result.stderr


def test_a_commit_after_our_write_back_is_applied_and_written_back_on_top(
    sandbox: SandboxProcess, tmp_path: Path
) -> None:
    remote = make_remote(tmp_path)
    assert pull_pass(sandbox, tmp_path, remote, state=STATE).returncode == 0
    seed = tmp_path / "seed"
    git(seed, "pull", "-q", "--ff-only", "origin", "main")
    write_manifest(seed / "manifests", "beta")
    pushed = commit_all(seed, "add beta")
    git(seed, "push", "-q", "origin", "HEAD:main")

    second = pull_pass(sandbox, tmp_path, remote, state=STATE)
    assert second.returncode == 0, second.stderr
    assert report(second)["revision"] == pushed
    assert live_names(sandbox) == {"alpha", "beta"}
    state = json.loads(git(remote, "show", f"main:{STATE}"))
    assert set(state["entries"]) == {"alpha", "beta"}
    assert state["revision"] == pushed
    assert git(remote, "rev-parse", "main^") == pushed  # linear: our commit on top of theirs


def test_a_workdir_holding_something_else_is_refused(
    sandbox: SandboxProcess, tmp_path: Path
) -> None:
    remote = make_remote(tmp_path)
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "notes.txt").write_text("mine\n")
    result = pull_pass(sandbox, tmp_path, remote)
    assert_clean_failure(result)
    assert "is not empty and holds no clone" in result.stderr
    assert (tmp_path / "work" / "notes.txt").read_text() == "mine\n"

    other = tmp_path / "other.git"
    git(tmp_path, "clone", "-q", "--bare", str(remote), str(other))
    (tmp_path / "work" / "notes.txt").unlink()
    assert pull_pass(sandbox, tmp_path, other).returncode == 0
    result = pull_pass(sandbox, tmp_path, remote)
    assert_clean_failure(result)
    assert "holds a clone of another repository" in result.stderr


def test_a_write_back_the_remote_refused_is_pushed_before_moving_on(
    sandbox: SandboxProcess, tmp_path: Path
) -> None:
    remote = make_remote(tmp_path)
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'remote: closed for maintenance' >&2\nexit 1\n")
    hook.chmod(0o755)
    first = pull_pass(sandbox, tmp_path, remote, "--output", "text", state=STATE)
    assert_clean_failure(first)
    assert "git push" in first.stdout
    assert live_names(sandbox) == {"alpha"}  # deployed and recorded in the clone's commit
    hook.unlink()
    seed = tmp_path / "seed"
    write_manifest(seed / "manifests", "beta")
    commit_all(seed, "add beta")
    git(seed, "push", "-q", "origin", "HEAD:main")

    second = pull_pass(sandbox, tmp_path, remote, state=STATE)
    assert second.returncode == 0, second.stdout + second.stderr
    state = json.loads(git(remote, "show", f"main:{STATE}"))
    assert set(state["entries"]) == {"alpha", "beta"}
    assert sandbox.stats()["createCalls"] == 2  # alpha's ID was kept, never deployed twice


def test_a_state_left_uncommitted_in_the_clone_is_committed_not_overwritten(
    sandbox: SandboxProcess, tmp_path: Path
) -> None:
    remote = make_remote(tmp_path)
    assert pull_pass(sandbox, tmp_path, remote, state=STATE).returncode == 0
    # As if a pass had been killed between saving the state and committing it: the file
    # in the clone holds an entry (here beta, deployed by hand) the remote does not have.
    beta = sandbox.create_model(
        {
            "modelName": "beta",
            "userId": sandbox.user_id,
            "modelPath": "meta-llama/Llama-3.1-8B-Instruct",
            "gpuType": "GPU_TYPE_H100",
            "gpuCount": 1,
            "infra": {"cloudProvider": "CLOUD_PROVIDER_NEBIUS"},
        }
    )
    local = tmp_path / "work" / STATE
    state = json.loads(local.read_text())
    entry = dict(state["entries"]["alpha"], name="beta", modelId=beta["modelId"])
    state["entries"]["beta"] = entry
    local.write_text(json.dumps(state, indent=2) + "\n")

    result = pull_pass(sandbox, tmp_path, remote, state=STATE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "beta" in json.loads(git(remote, "show", f"main:{STATE}"))["entries"]
    subjects = git(remote, "log", "--format=%s", "main")
    assert "left uncommitted [skip ci]" in subjects


def test_pull_mode_flags_without_git_are_usage_errors(tmp_path: Path) -> None:
    result = run_cli(["reconcile", "manifests", "--workdir", str(tmp_path), "--once"])
    assert_clean_failure(result)
    assert "--workdir and --verify-commits go with --git URL" in result.stderr
