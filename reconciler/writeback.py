"""Write-back after apply: commit the state file (only that file) and optionally push it.

Workflow level: decides the commit message from the apply result and drives the git adapter.
Prints nothing; never commits when the state did not change, never force-pushes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from reconciler.adapters.git_repo import GitRepo, PushOutcome
from reconciler.core.outcome import ApplyResult

SKIP_CI = "[skip ci]"
DEFAULT_PREFIX = "tensormesh:"
# The results that changed what the state records, in the order the subject lists them.
_CHANGED = ("created", "replaced", "adopted", "deleted", "failed")


@dataclass(frozen=True, slots=True)
class WritebackOptions:
    commit: bool = False
    push: bool = False
    prefix: str = DEFAULT_PREFIX
    skip_ci: bool = True
    push_attempts: int = 3

    @property
    def enabled(self) -> bool:
        return self.commit or self.push


@dataclass(frozen=True, slots=True)
class WritebackResult:
    commit: str | None  # the new commit's id; None when nothing changed
    push: PushOutcome | None = None


def commit_message(
    result: ApplyResult, *, prefix: str = DEFAULT_PREFIX, skip_ci: bool = True
) -> str:
    """Subject `tensormesh: apply 2 created, 1 replaced [skip ci]`; one body line per entry.

    Names and model IDs only: the state and its messages never hold a secret value.
    """
    counts = result.counts()
    parts = [f"{counts[key]} {key}" for key in _CHANGED if counts.get(key)]
    subject = f"{prefix.strip()} apply {', '.join(parts) or 'state updated'}".strip()
    if result.interrupted:
        subject += " (interrupted)"
    if skip_ci:
        # Loop prevention: this commit must not trigger the pipeline that made it.
        subject += f" {SKIP_CI}"
    body = [
        f"{outcome.result} {outcome.name} model {outcome.model_id}"
        for outcome in result.outcomes
        if outcome.result in _CHANGED and outcome.model_id
    ]
    body += [
        f"{outcome.result} {outcome.name}"
        for outcome in result.outcomes
        if outcome.result in _CHANGED and not outcome.model_id
    ]
    return subject + ("\n\n" + "\n".join(body) if body else "") + "\n"


def prepare(state_path: str, options: WritebackOptions) -> GitRepo | None:
    """Check before applying that the write-back can work: a work tree, an identity and,
    for --push, a branch. Failing after the deploys would leave IDs uncommitted."""
    if not options.enabled:
        return None
    from reconciler.adapters import state_location
    from reconciler.core.errors import UsageError

    if state_location.is_database(state_path):
        raise UsageError(
            "--commit/--push write a state file back to git; a PostgreSQL state is saved in "
            "the database already, so leave them out"
        )
    repo = GitRepo.find(Path(state_path).resolve().parent)
    repo.identity()
    if options.push:
        repo.current_branch()
    return repo


def write_back(
    repo: GitRepo, state_path: str, result: ApplyResult, options: WritebackOptions
) -> WritebackResult:
    """Commit the state file if it changed, then push if asked; a no-op apply commits nothing."""
    message = commit_message(result, prefix=options.prefix, skip_ci=options.skip_ci)
    commit = repo.commit_file(Path(state_path), message)
    if commit is None or not options.push:
        return WritebackResult(commit)
    return WritebackResult(commit, repo.push(attempts=options.push_attempts))
