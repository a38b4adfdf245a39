"""Several actors on one state through git: the real CLI, the real sandbox, a bare remote and
two clones. Reproductions 3, 4 and 5 of the ownership issue, the merge driver under a real
`git merge`, stale writers and `reconcile --pull`."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import assert_clean_failure, run_cli, start_cli, write_manifest
from tests.support.forked import ForkedProcess
from tests.support.gitrepos import (
    DRIVER,
    STATE,
    cli_env,
    clone,
    commit_all,
    git,
    make_remote,
    remote_state,
)
from tests.support.sandbox import PROJECT_ROOT, SandboxProcess

pytestmark = pytest.mark.e2e


def apply(sandbox: SandboxProcess, work: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    args = ["apply", "manifests", "--state", STATE, "--no-wait", *extra]
    return run_cli(args, env=cli_env(sandbox.env, work), cwd=work)


def reconcile(
    sandbox: SandboxProcess, work: Path, *extra: str, state: str = STATE
) -> subprocess.CompletedProcess[str]:
    args = ["reconcile", "manifests", "--state", state, "--once", *extra]
    return run_cli(args, env=cli_env(sandbox.env, work), cwd=work)


def live(sandbox: SandboxProcess) -> dict[str, list[str]]:
    """Live (not deleted) model IDs by name."""
    names: dict[str, list[str]] = {}
    for model in sandbox.list_models():
        if model.get("status") != "MODEL_STATUS_DELETED":
            names.setdefault(model["modelName"], []).append(model["modelId"])
    return names


def recorded(state: dict[str, Any]) -> dict[str, str]:
    return {name: entry["modelId"] for name, entry in state["entries"].items()}


@pytest.fixture
def clones(tmp_path: Path, sandbox: SandboxProcess) -> tuple[Path, Path, Path]:
    """A remote whose state records alpha (applied and pushed from clone A); clone B is a
    second runner, up to date."""
    remote = make_remote(tmp_path)
    a = clone(remote, tmp_path / "a", "runner-a")
    first = apply(sandbox, a, "--push")
    assert first.returncode == 0, first.stderr
    b = clone(remote, tmp_path / "b", "runner-b")
    return remote, a, b


def test_two_runners_with_disjoint_changes_both_push(sandbox, clones) -> None:  # type: ignore[no-untyped-def]
    """Reproduction 4: B's push is rejected (A pushed first); the rebase merges the two state
    commits with the merge driver instead of failing, and the remote records every model."""
    remote, a, b = clones
    write_manifest(a / "manifests", "beta")
    commit_all(a, "add beta")
    write_manifest(b / "manifests", "gamma")
    commit_all(b, "add gamma")
    first = apply(sandbox, a, "--push")
    assert first.returncode == 0, first.stderr
    second = apply(sandbox, b, "--push")
    assert second.returncode == 0, second.stderr
    assert "after 1 rebase" in second.stderr
    state = remote_state(remote)
    assert recorded(state) == {name: ids[0] for name, ids in live(sandbox).items()}
    assert set(recorded(state)) == {"alpha", "beta", "gamma"}
    assert state["serial"] == 3  # alpha (1), then A's and B's merged: past both
    # The state names a commit every up-to-date clone has, though B's manifest commit was
    # rewritten by the rebase.
    fresh = clone(remote, b.parent / "fresh", "fresh")
    git(fresh, "merge-base", "--is-ancestor", state["revision"], "HEAD")
    again = apply(sandbox, fresh)
    assert again.returncode == 0, again.stderr
    assert again.stdout == "Apply complete: 3 unchanged.\n"


def test_two_runners_at_the_same_moment_both_push(sandbox, clones) -> None:  # type: ignore[no-untyped-def]
    remote, a, b = clones
    write_manifest(a / "manifests", "beta")
    commit_all(a, "add beta")
    write_manifest(b / "manifests", "gamma")
    commit_all(b, "add gamma")
    runners = [start_apply(sandbox, work, "--push") for work in (a, b)]
    results = [(proc.wait(timeout=120), *proc.communicate()) for proc in runners]
    assert [code for code, _, _ in results] == [0, 0], results
    assert recorded(remote_state(remote)) == {name: ids[0] for name, ids in live(sandbox).items()}


def start_apply(
    sandbox: SandboxProcess, work: Path, *extra: str
) -> subprocess.Popen[str] | ForkedProcess:
    args = ["apply", "manifests", "--state", STATE, "--no-wait", *extra]
    env = {**cli_env(sandbox.env, work), "NO_COLOR": "1", "PYTHONPATH": str(PROJECT_ROOT)}
    return start_cli(args, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_a_reconcile_in_the_same_clone_cannot_write_while_apply_pushes(sandbox, clones) -> None:  # type: ignore[no-untyped-def]
    """Reproduction 3: a `reconcile --once` started while apply --push is pushing (from a
    pre-push hook) must wait for the state lock; it used to write the state in the middle
    of the write-back, and `--autostash` left conflict markers in the state file."""
    remote, a, b = clones
    # The remote moves on with a state change of its own, so A's push must rebase.
    write_manifest(b / "manifests", "beta")
    commit_all(b, "add beta")
    assert apply(sandbox, b, "--push").returncode == 0
    # Drift for the reconcile to correct: alpha deleted behind everyone's back.
    sandbox.delete_model(live(sandbox)["alpha"][0])
    write_manifest(a / "manifests", "gamma")
    commit_all(a, "add gamma")
    hook = a / ".git" / "hooks" / "pre-push"
    reconcile_cmd = (
        f"{sys.executable} -m reconciler reconcile manifests --state {STATE} --once "
        "--lock-timeout 1"
    )
    hook.write_text(
        "#!/bin/sh\n"
        "[ -e .git/hook-ran ] && exit 0\n"
        "touch .git/hook-ran\n"
        f"{reconcile_cmd} > .git/hook.log 2>&1\n"
        "echo $? > .git/hook.exit\n"
        "exit 0\n"
    )
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR)

    pushed = apply(sandbox, a, "--push")
    assert pushed.returncode == 0, pushed.stderr
    assert (a / ".git" / "hook.exit").read_text().strip() == "1"
    assert "is locked by `apply`" in (a / ".git" / "hook.log").read_text()
    text = (a / STATE).read_text()
    assert "<<<<<<<" not in text and ">>>>>>>" not in text
    assert git(a, "stash", "list") == ""
    assert git(a, "status", "--porcelain", "--untracked-files=no") == ""
    assert set(recorded(remote_state(remote))) == {"alpha", "beta", "gamma"}

    # Once apply is done, the reconcile runs: it recreates alpha and records it.
    healed = reconcile(sandbox, a)
    assert healed.returncode == 0, healed.stderr
    state = json.loads((a / STATE).read_text())
    assert recorded(state) == {name: ids[0] for name, ids in live(sandbox).items()}


def test_a_failed_rebase_keeps_every_id_and_names_the_next_step(sandbox, clones) -> None:  # type: ignore[no-untyped-def]
    """Both runners recorded alpha as a different model: A replaced it; B, behind, found it
    gone, forgot it and deployed it again. A real conflict: the rebase is aborted, the work
    tree keeps B's IDs and no conflict markers, exit 1 naming the entry and the next step."""
    _, a, b = clones
    write_manifest(a / "manifests", "alpha", gpuCount=2)
    commit_all(a, "alpha on two GPUs")
    assert apply(sandbox, a, "--push").returncode == 0
    sandbox.delete_model(live(sandbox)["alpha"][0])
    forgot = run_cli(["state", "rm", "alpha", "--state", STATE], cwd=b)
    assert forgot.returncode == 0, forgot.stderr
    result = apply(sandbox, b, "--push")
    assert_clean_failure(result)
    assert "entry alpha" in result.stderr
    assert "git pull --rebase" in result.stderr
    text = (b / STATE).read_text()
    assert "<<<<<<<" not in text
    assert recorded(json.loads(text))["alpha"] == live(sandbox)["alpha"][0]
    assert not (b / ".git" / "rebase-merge").exists()
    assert git(b, "status", "--porcelain", "--untracked-files=no") == ""


def test_the_merge_driver_under_a_real_git_merge(tmp_path: Path, sandbox: SandboxProcess) -> None:  # type: ignore[no-untyped-def]
    remote = make_remote(tmp_path)
    a = clone(remote, tmp_path / "a", "runner-a")
    (a / ".gitattributes").write_text(f"{STATE} merge=tensormesh-state\n")
    commit_all(a, "state merge driver")
    assert apply(sandbox, a, "--push").returncode == 0
    git(a, "config", "merge.tensormesh-state.driver", DRIVER)
    git(a, "checkout", "-q", "-b", "other")
    write_manifest(a / "manifests", "beta")
    commit_all(a, "add beta")
    assert apply(sandbox, a, "--commit").returncode == 0
    git(a, "checkout", "-q", "main")
    write_manifest(a / "manifests", "gamma")
    commit_all(a, "add gamma")
    assert apply(sandbox, a, "--commit").returncode == 0

    git(a, "merge", "-q", "--no-edit", "other")
    state = json.loads((a / STATE).read_text())
    assert set(recorded(state)) == {"alpha", "beta", "gamma"}
    assert state["serial"] == 3
    assert apply(sandbox, a).stdout == "Apply complete: 3 unchanged.\n"

    # The same name changed on both branches: git reports a conflict, the file holds no markers.
    git(a, "checkout", "-q", "-b", "bigger")
    write_manifest(a / "manifests", "beta", gpuCount=2)
    commit_all(a, "beta on two GPUs")
    assert apply(sandbox, a, "--commit").returncode == 0
    git(a, "checkout", "-q", "main")
    sandbox.delete_model(live(sandbox)["beta"][0])
    write_manifest(a / "manifests", "beta", gpuCount=4)
    commit_all(a, "beta on four GPUs")
    assert apply(sandbox, a, "--commit").returncode == 0
    merge = subprocess.run(
        ["git", "merge", "--no-edit", "bigger"], cwd=a, capture_output=True, text=True, check=False
    )
    assert merge.returncode != 0
    assert "entry beta" in merge.stderr
    assert "<<<<<<<" not in (a / STATE).read_text()
    git(a, "merge", "--abort")


def test_a_stale_clone_never_writes_a_shared_state(sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Reproduction 5 with one state file shared by two clones: CI prunes beta and gives alpha
    a newer spec; the clone that never pulled is refused before any call."""
    remote = make_remote(tmp_path)
    shared = str(tmp_path / "shared" / STATE)
    (tmp_path / "shared").mkdir()
    ci = clone(remote, tmp_path / "ci", "ci")
    write_manifest(ci / "manifests", "beta")
    commit_all(ci, "add beta")
    git(ci, "push", "-q", "origin", "main")
    stale = clone(remote, tmp_path / "stale", "loop")
    env = cli_env(sandbox.env, ci)
    first = run_cli(["apply", "manifests", "--state", shared, "--no-wait"], env=env, cwd=ci)
    assert first.returncode == 0, first.stderr

    (ci / "manifests" / "beta.yaml").unlink()
    write_manifest(ci / "manifests", "alpha", gpuCount=2)
    newer = commit_all(ci, "drop beta, alpha on two GPUs")
    git(ci, "push", "-q", "origin", "main")
    pruned = run_cli(
        ["apply", "manifests", "--state", shared, "--no-wait", "--prune"], env=env, cwd=ci
    )
    assert pruned.returncode == 0, pruned.stderr
    assert json.loads(Path(shared).read_text())["revision"] == newer
    before = sandbox.stats()

    for command in (["reconcile", "manifests", "--once"], ["apply", "manifests", "--prune"]):
        result = run_cli([*command, "--state", shared], env=cli_env(sandbox.env, stale), cwd=stale)
        assert_clean_failure(result)
        assert f"the state was applied from {newer[:12]}" in result.stderr
        assert "pull" in result.stderr
    after = sandbox.stats()
    assert after["requests"] == before["requests"]  # refused before any call
    assert sorted(live(sandbox)) == ["alpha"]


def test_reconcile_pull_picks_up_a_pushed_commit(sandbox, clones) -> None:  # type: ignore[no-untyped-def]
    """Reproduction 5 in one repository: the loop's clone pulls before each pass, so CI's
    prune is not undone and CI's newer spec is not rolled back."""
    remote, ci, loop = clones
    write_manifest(ci / "manifests", "beta")
    commit_all(ci, "add beta")
    assert apply(sandbox, ci, "--push").returncode == 0
    first = reconcile(sandbox, loop, "--pull")
    assert first.returncode == 0, first.stderr
    assert (loop / "manifests" / "beta.yaml").exists()

    (ci / "manifests" / "beta.yaml").unlink()
    write_manifest(ci / "manifests", "alpha", gpuCount=2)
    commit_all(ci, "drop beta, alpha on two GPUs")
    assert apply(sandbox, ci, "--push", "--prune").returncode == 0
    newest = live(sandbox)
    creates = sandbox.stats()["creates"]

    healed = reconcile(sandbox, loop, "--pull", "--output", "json")
    assert healed.returncode == 0, healed.stderr
    assert json.loads(healed.stdout)["drift"] == []
    assert live(sandbox) == newest == {"alpha": newest["alpha"]}
    assert sandbox.stats()["creates"] == creates
    assert git(loop, "rev-parse", "HEAD") == git(remote, "rev-parse", "main")


def test_reconcile_pull_fails_the_pass_when_it_cannot_fast_forward(sandbox, clones) -> None:  # type: ignore[no-untyped-def]
    _, ci, loop = clones
    (ci / "NOTES.md").write_text("theirs\n")
    commit_all(ci, "their notes")
    git(ci, "push", "-q", "origin", "main")
    (loop / "NOTES.md").write_text("ours\n")
    commit_all(loop, "our notes")
    result = reconcile(sandbox, loop, "--pull")
    assert_clean_failure(result)
    assert "git pull --ff-only" in result.stderr


@pytest.mark.parametrize(
    ("setup", "words"),
    [
        ("ignored", "git ignores the state file"),
        ("detached", "HEAD is detached"),
        ("no-remote", "no remote 'origin'"),
        ("dirty", "uncommitted changes"),
    ],
)
def test_push_is_refused_before_any_call(sandbox, tmp_path: Path, setup: str, words: str) -> None:  # type: ignore[no-untyped-def]
    remote = make_remote(tmp_path)
    work = clone(remote, tmp_path / "work", "runner")
    if setup == "ignored":
        (work / ".gitignore").write_text("*.state.json\n")
        commit_all(work, "ignore states")
    elif setup == "detached":
        git(work, "checkout", "-q", "--detach")
    elif setup == "no-remote":
        git(work, "remote", "remove", "origin")
    else:
        write_manifest(work / "manifests", "alpha", gpuCount=3)
    result = apply(sandbox, work, "--push")
    assert_clean_failure(result)
    assert words in result.stderr
    assert sandbox.stats()["createCalls"] == 0


def test_outside_git_no_revision_is_recorded(sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    write_manifest(tmp_path / "manifests", "alpha")
    env = {**sandbox.env, "GIT_CEILING_DIRECTORIES": str(tmp_path.parent)}
    result = run_cli(["apply", "manifests", "--state", STATE, "--no-wait"], env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "revision" not in json.loads((tmp_path / STATE).read_text())


def test_reconcile_push_commits_and_pushes_what_it_corrected(sandbox, clones) -> None:  # type: ignore[no-untyped-def]
    remote, _, loop = clones
    sandbox.delete_model(live(sandbox)["alpha"][0])
    healed = reconcile(sandbox, loop, "--pull", "--push")
    assert healed.returncode == 0, healed.stderr
    assert git(remote, "log", "-1", "--format=%s", "main").startswith("tensormesh: reconcile ")
    assert recorded(remote_state(remote)) == {"alpha": live(sandbox)["alpha"][0]}
    assert git(loop, "status", "--porcelain", "--untracked-files=no") == ""


def test_a_rewritten_revision_is_replaced_by_one_every_clone_has(sandbox, clones) -> None:  # type: ignore[no-untyped-def]
    """B applies from a local manifest commit while A's reconcile pushes a state change: B's
    rebase rewrites that commit, so the revision B recorded exists nowhere else. The
    write-back names the rebased state commit's parent instead."""
    remote, a, b = clones
    write_manifest(b / "manifests", "beta")
    local = commit_all(b, "add beta")
    sandbox.delete_model(live(sandbox)["alpha"][0])
    healed = reconcile(sandbox, a, "--push")
    assert healed.returncode == 0, healed.stderr
    pushed = apply(sandbox, b, "--push")
    assert pushed.returncode == 0, pushed.stderr
    state = remote_state(remote)
    assert state["revision"] != local
    assert state["revision"] == git(remote, "rev-parse", "main^")
    fresh = clone(remote, b.parent / "fresh", "fresh")
    again = apply(sandbox, fresh)
    assert again.returncode == 0, again.stderr
    assert again.stdout == "Apply complete: 2 unchanged.\n"
