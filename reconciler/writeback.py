"""Write-back after apply: commit the state file (only that file) and optionally push it.

Workflow level: decides the commit message from the apply result and drives the git adapter.
Runs while the caller still holds the state lock, so nothing in this clone writes the state
between the save, the commit, the rebase and the push. Prints nothing; never commits when
the state did not change, never force-pushes, never stashes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from reconciler.adapters import state_file, state_location
from reconciler.adapters.git_repo import GitRepo, PushOutcome
from reconciler.core.errors import GitError, UsageError
from reconciler.core.outcome import ApplyResult, Outcome

SKIP_CI = "[skip ci]"
DEFAULT_PREFIX = "tensormesh:"
# The results that changed what the state records, in the order the subject lists them.
_CHANGED = (Outcome.CREATED, Outcome.REPLACED, Outcome.ADOPTED, Outcome.DELETED, Outcome.FAILED)


@dataclass(frozen=True, slots=True)
class WritebackOptions:
    commit: bool = False
    push: bool = False
    prefix: str = DEFAULT_PREFIX
    skip_ci: bool = True
    push_attempts: int = 3
    verb: str = "apply"  # the command named in the subject

    @property
    def enabled(self) -> bool:
        return self.commit or self.push


@dataclass(frozen=True, slots=True)
class WritebackResult:
    commit: str | None  # the new commit's id; None when nothing changed
    push: PushOutcome | None = None


def commit_message(
    result: ApplyResult, *, prefix: str = DEFAULT_PREFIX, skip_ci: bool = True, verb: str = "apply"
) -> str:
    """Subject `tensormesh: apply 2 created, 1 replaced [skip ci]`; one body line per entry.

    Names and model IDs only: the state and its messages never hold a secret value.
    """
    counts = result.counts()
    parts = [f"{counts[key]} {key.value}" for key in _CHANGED if counts.get(key)]
    subject = f"{prefix.strip()} {verb} {', '.join(parts) or 'state updated'}".strip()
    if result.interrupted:
        subject += " (interrupted)"
    if skip_ci:
        # Loop prevention: this commit must not trigger the pipeline that made it.
        subject += f" {SKIP_CI}"
    body = [
        f"{outcome.result.value} {outcome.name} model {outcome.model_id}"
        for outcome in result.outcomes
        if outcome.result in _CHANGED and outcome.model_id
    ]
    body += [
        f"{outcome.result.value} {outcome.name}"
        for outcome in result.outcomes
        if outcome.result in _CHANGED and not outcome.model_id
    ]
    return subject + ("\n\n" + "\n".join(body) if body else "") + "\n"


def prepare(state_path: str, options: WritebackOptions) -> GitRepo | None:
    """Check before applying that the write-back can work: a work tree, an identity, a
    state file git does not ignore and, for --push, a branch with somewhere to push it and no
    other changes in the way of a rebase. Failing after the deploys would leave IDs
    uncommitted."""
    if not options.enabled:
        return None
    if state_location.is_database(state_path):
        raise UsageError(
            "--commit/--push write a state file back to git; a PostgreSQL state is saved in "
            "the database already, so leave them out"
        )
    path = Path(state_path).resolve()
    repo = GitRepo.find(path.parent)
    repo.identity()
    if repo.is_ignored(path):
        raise GitError(
            f"git ignores the state file {state_path} (see `git check-ignore -v "
            f"{state_path}`), so --commit/--push could not commit it; remove it from "
            ".gitignore, or drop --commit/--push"
        )
    if options.push:
        repo.check_remote(repo.push_target().remote)  # also refuses a detached HEAD
        state_relative = repo.relative(path)
        others = [p for p in repo.changed_paths() if p != state_relative]
        if others:
            raise GitError(
                f"--push may have to rebase onto the remote, and {len(others)} other tracked "
                f"file(s) have uncommitted changes ({', '.join(sorted(others)[:3])}); commit "
                "or stash them first (the reconciler never stashes), or drop --push"
            )
    return repo


def write_back(
    repo: GitRepo, state_path: str, result: ApplyResult, options: WritebackOptions
) -> WritebackResult:
    """Commit the state file if it changed, then push if asked; a no-op apply commits nothing.

    Call it with the state lock held."""
    message = commit_message(
        result, prefix=options.prefix, skip_ci=options.skip_ci, verb=options.verb
    )
    path = Path(state_path)
    commit = repo.commit_file(path, message)
    if commit is None or not options.push:
        return WritebackResult(commit)
    pushed = repo.push(
        attempts=options.push_attempts,
        state_path=path,
        after_rebase=lambda: _keep_revision_reachable(repo, path),
    )
    return WritebackResult(repo.head() or commit, pushed)


def _keep_revision_reachable(repo: GitRepo, path: Path) -> None:
    """After a rebase, the commit the state names may have been rewritten (a local manifest
    commit replayed on the remote's): name the rebased state commit's parent instead, which
    holds everything the state was applied from, so every up-to-date clone accepts it."""
    state = state_file.read_document(path)
    if state.revision is None or repo.contains(state.revision):
        return
    parent = repo.run("rev-parse", "HEAD^").stdout.strip()
    state_file.save_state(path, replace(state, revision=parent))
    repo.amend_file(path)
