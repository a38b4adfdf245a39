"""The git adapter against real temporary repositories and a real bare remote."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from reconciler.adapters import state_file
from reconciler.adapters.git_repo import GitRepo, summarize
from reconciler.core.errors import GitError
from tests.support.builders import desired, recorded, state


@pytest.fixture(autouse=True)
def _isolated_git(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The machine's own git identity and settings must not leak into these tests.
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in (
        "GIT_AUTHOR_NAME",
        "GIT_AUTHOR_EMAIL",
        "GIT_COMMITTER_NAME",
        "GIT_COMMITTER_EMAIL",
    ):
        monkeypatch.delenv(name, raising=False)


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def make_clone(remote: Path, path: Path, who: str) -> Path:
    git(path.parent, "clone", "-q", str(remote), path.name)
    git(path, "config", "user.name", who)
    git(path, "config", "user.email", f"{who}@example.com")
    return path


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    """A bare remote with one commit on `main`."""
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    seed = make_clone(bare, tmp_path / "seed", "seed")
    (seed / "README.md").write_text("seed\n")
    git(seed, "add", "README.md")
    git(seed, "commit", "-q", "-m", "seed")
    git(seed, "push", "-q", "origin", "HEAD:main")
    return bare


def test_commits_only_the_state_file_and_nothing_when_unchanged(
    remote: Path, tmp_path: Path
) -> None:
    work = make_clone(remote, tmp_path / "work", "bot")
    (work / "other.txt").write_text("staged but not ours\n")
    git(work, "add", "other.txt")
    state = work / "tensormesh.state.json"
    state.write_text('{"serial": 1}\n')
    repo = GitRepo.find(state)
    commit = repo.commit_file(state, "tensormesh: apply 1 created\n\ncreated a model m1\n")
    assert commit == git(work, "rev-parse", "HEAD")
    assert git(work, "show", "--name-only", "--format=", "HEAD") == "tensormesh.state.json"
    assert git(work, "diff", "--cached", "--name-only") == "other.txt"
    assert git(work, "log", "-1", "--format=%an <%ae>") == "bot <bot@example.com>"
    assert repo.commit_file(state, "again") is None
    assert git(work, "rev-list", "--count", "HEAD") == "2"


def test_missing_identity_fails_clearly(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "plain")
    with pytest.raises(GitError, match="no git identity is configured"):
        GitRepo.find(tmp_path / "plain").identity()


def test_outside_a_work_tree_fails_clearly(tmp_path: Path) -> None:
    (tmp_path / "loose").mkdir()
    with pytest.raises(GitError, match="needs a git work tree"):
        GitRepo.find(tmp_path / "loose" / "tensormesh.state.json")


def test_rejected_push_is_rebased_and_retried(remote: Path, tmp_path: Path) -> None:
    ours = make_clone(remote, tmp_path / "ours", "bot")
    theirs = make_clone(remote, tmp_path / "theirs", "human")
    (theirs / "manifest.yaml").write_text("other change\n")
    git(theirs, "add", "manifest.yaml")
    git(theirs, "commit", "-q", "-m", "their change")
    git(theirs, "push", "-q", "origin", "main")

    state = ours / "tensormesh.state.json"
    state.write_text('{"serial": 1}\n')
    repo = GitRepo.find(ours)
    repo.commit_file(state, "tensormesh: apply 1 created [skip ci]\n")
    outcome = repo.push()
    assert outcome.attempts == 2
    assert (outcome.target.remote, outcome.target.branch) == ("origin", "main")
    log = git(remote, "log", "--format=%s", "main").splitlines()
    assert log == ["tensormesh: apply 1 created [skip ci]", "their change", "seed"]


def test_rebase_conflict_aborts_and_fails_clearly(remote: Path, tmp_path: Path) -> None:
    ours = make_clone(remote, tmp_path / "ours", "bot")
    theirs = make_clone(remote, tmp_path / "theirs", "other-bot")
    (theirs / "tensormesh.state.json").write_text('{"serial": 7}\n')
    git(theirs, "add", "tensormesh.state.json")
    git(theirs, "commit", "-q", "-m", "their apply")
    git(theirs, "push", "-q", "origin", "main")

    state = ours / "tensormesh.state.json"
    state.write_text('{"serial": 1}\n')
    repo = GitRepo.find(ours)
    repo.commit_file(state, "tensormesh: apply 1 created\n")
    with pytest.raises(GitError, match="rebase was aborted"):
        repo.push()
    assert not (ours / ".git" / "rebase-merge").exists()
    assert not (ours / ".git" / "rebase-apply").exists()
    assert git(remote, "log", "-1", "--format=%s", "main") == "their apply"


def test_push_falls_back_to_origin_and_branch_without_upstream(
    remote: Path, tmp_path: Path
) -> None:
    work = make_clone(remote, tmp_path / "work", "bot")
    git(work, "checkout", "-q", "-b", "deploy")
    assert GitRepo.find(work).push_target().branch == "deploy"


@pytest.mark.parametrize(
    ("stderr", "expected"),
    [
        ("hint: try this\nfatal: bad thing\n", "fatal: bad thing"),
        ("fatal: unable to access 'https://x-access:tok123@github.com/a/b.git/'", "***@"),
        ("", "no message from git"),
    ],
)
def test_summarize(stderr: str, expected: str) -> None:
    text = summarize(stderr)
    assert expected in text
    assert "tok123" not in text and "hint" not in text


def test_ancestry_and_contains(remote: Path, tmp_path: Path) -> None:
    work = make_clone(remote, tmp_path / "work", "bot")
    repo = GitRepo.find(work)
    first = repo.head()
    assert first is not None
    (work / "more.txt").write_text("more\n")
    git(work, "add", "more.txt")
    git(work, "commit", "-q", "-m", "more")
    second = repo.head()
    assert second is not None
    assert repo.is_ancestor(first, second) and not repo.is_ancestor(second, first)
    git(work, "checkout", "-q", first)
    assert repo.contains(first) and not repo.contains(second)
    assert not repo.contains("0" * 40)  # unknown revision


def test_ignored_and_changed_paths(remote: Path, tmp_path: Path) -> None:
    work = make_clone(remote, tmp_path / "work", "bot")
    (work / ".gitignore").write_text("*.state.json\n")
    repo = GitRepo.find(work)
    assert repo.is_ignored(work / "tensormesh.state.json")
    assert not repo.is_ignored(work / "README.md")
    assert repo.changed_paths() == ()
    (work / "README.md").write_text("changed\n")
    assert repo.changed_paths() == ("README.md",)


def test_no_remote_is_refused_clearly(remote: Path, tmp_path: Path) -> None:
    work = make_clone(remote, tmp_path / "work", "bot")
    git(work, "remote", "remove", "origin")
    repo = GitRepo.find(work)
    with pytest.raises(GitError, match="no remote 'origin'"):
        repo.check_remote(repo.push_target().remote)


def test_the_rebase_merges_state_files_with_the_merge_driver(remote: Path, tmp_path: Path) -> None:
    """No .gitattributes and no git config: our own rebase configures the driver."""
    ours = make_clone(remote, tmp_path / "ours", "bot")
    theirs = make_clone(remote, tmp_path / "theirs", "other-bot")
    base = state(recorded(desired("alpha"), "m-a"))
    state_file.save_state(ours / "tensormesh.state.json", base)
    git(ours, "add", "tensormesh.state.json")
    git(ours, "commit", "-q", "-m", "state")
    git(ours, "push", "-q", "origin", "main")
    git(theirs, "pull", "-q", "--ff-only")
    their_state = replace(
        base, serial=2, entries={**base.entries, "beta": recorded(desired("beta"), "m-b")}
    )
    state_file.save_state(theirs / "tensormesh.state.json", their_state)
    git(theirs, "commit", "-q", "-am", "their apply")
    git(theirs, "push", "-q", "origin", "main")

    path = ours / "tensormesh.state.json"
    our_state = replace(
        base, serial=2, entries={**base.entries, "gamma": recorded(desired("gamma"), "m-c")}
    )
    state_file.save_state(path, our_state)
    repo = GitRepo.find(ours)
    repo.commit_file(path, "our apply")
    outcome = repo.push(state_path=path)
    assert outcome.attempts == 2
    merged = state_file.read_document(path)
    assert sorted(merged.entries) == ["alpha", "beta", "gamma"]
    assert merged.serial == 3
    assert git(remote, "show", "main:tensormesh.state.json") == path.read_text().strip()
