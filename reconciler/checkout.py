"""Checkout step: the git revision the manifests come from, and the stale-writer check.

A state applied from a commit this checkout lacks was written from a newer clone: applying
from here would roll its work back (resurrect pruned models, redeploy older specs). Outside
git nothing is recorded and nothing is checked. Decides nothing else; prints nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from reconciler.adapters import state_location
from reconciler.adapters.git_repo import GitRepo
from reconciler.adapters.state_lock import StateLock
from reconciler.core.errors import GitError, StaleCheckoutError
from reconciler.core.model import State


@dataclass(frozen=True, slots=True)
class Checkout:
    repo: GitRepo
    head: str | None  # None in a repository without commits: nothing to record


def find_checkout(paths: Sequence[str], state_path: str) -> Checkout | None:
    """The git checkout of the manifests (the first PATH; the state file's folder when there
    is none, as with `apply --plan`, or the working folder for a PostgreSQL state); None
    outside git."""
    if paths:
        where = Path(paths[0])
    elif state_location.is_database(state_path):
        where = Path.cwd()
    else:
        where = Path(state_path).resolve().parent
    repo = GitRepo.find_optional(where if where.exists() else where.parent)
    return None if repo is None else Checkout(repo, repo.head())


def check_fresh(checkout: Checkout | None, state: State, *, command: str) -> None:
    """Refuse (before any API call) a checkout that lacks the state's revision."""
    if checkout is None or state.revision is None or checkout.repo.contains(state.revision):
        return
    raise StaleCheckoutError(
        f"the state was applied from {state.revision[:12]}, which this checkout does not "
        f"have; pull first (`git pull` in {checkout.repo.root}), then run {command} again. "
        "Running it from an older checkout would undo newer changes"
    )


def recorded_revision(checkout: Checkout | None) -> str | None:
    """What a state saved now records as its revision (None: keep what it had)."""
    return None if checkout is None else checkout.head


def pull(checkout: Checkout | None, state_path: str, *, lock_timeout: float) -> Checkout:
    """`reconcile --pull`: `git pull --ff-only` under the state lock (the pull may rewrite the
    state file, which no writer of this clone may be saving meanwhile); the new checkout."""
    if checkout is None:
        raise GitError(
            "--pull needs the manifests in a git clone, but the first PATH is not inside one; "
            "drop --pull or point PATH at a clone"
        )
    # A PostgreSQL state is not in the clone: no writer of it can race the pull.
    lock = (
        contextlib.nullcontext()
        if state_location.is_database(state_path)
        else StateLock(state_path, command="reconcile --pull", timeout=lock_timeout)
    )
    with lock:
        checkout.repo.pull_fast_forward()
    return Checkout(checkout.repo, checkout.repo.head())
