"""Pull mode's source step: the reconciler's own clone of the config repository.

`reconcile --git URL --ref BRANCH --path DIR --workdir DIR`, as Argo CD and Flux do it: the
clone lives in --workdir and belongs to the reconciler; before every pass it fetches BRANCH,
checks the fetched commit (its signature with --verify-commits; never older than what this
clone already reconciled) and checks exactly that commit out. The pass then reconciles that
revision and records it. Drives git through the GitRepo adapter; prints nothing.

Why a local branch rather than a detached HEAD: a state file kept in the clone is committed
and pushed back by the write-back (reconciler/writeback.py), which pushes a branch. The branch
is moved to the fetched commit each pass, so HEAD is always exactly that revision (plus, for
at most one pass, our own write-back commit that has not reached the remote yet).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from reconciler.adapters import state_location
from reconciler.adapters.git_repo import GitRepo, summarize
from reconciler.adapters.state_lock import StateLock
from reconciler.checkout import Checkout
from reconciler.core.errors import GitError, StaleCheckoutError, UsageError

REMOTE = "origin"
# The newest revision this clone fetched and checked out (or pushed): a later fetch must
# contain it, else the branch was force-pushed back and reconciling it would undo work.
APPLIED_REF = "refs/tensormesh/applied"
LEFT_OVER = "tensormesh: reconcile state an earlier pass left uncommitted"


@dataclass(frozen=True, slots=True)
class GitSource:
    url: str
    branch: str
    path: str  # the manifests' folder inside the repository
    workdir: Path
    allowed_signers: Path | None = None  # --verify-commits

    @property
    def manifests(self) -> Path:
        return self.workdir / self.path

    def resolve_state(self, state_path: str) -> str:
        """A relative --state names a file in the clone (committed and pushed back); a
        PostgreSQL state stays where it is."""
        if state_location.is_database(state_path):
            return state_path
        given = Path(state_path)
        return str(given if given.is_absolute() else self.workdir / given)

    def holds(self, state_path: str) -> bool:
        """Whether the state file lies inside the clone (then it is written back)."""
        if state_location.is_database(state_path):
            return False
        try:
            Path(state_path).resolve().relative_to(self.workdir.resolve())
        except ValueError:
            return False
        return True


def check_path(path: str) -> str:
    """--path: a folder inside the repository, never outside it."""
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts:
        raise UsageError(
            f"--path {path!r} must be a folder inside the repository (relative, without '..')"
        )
    return str(pure)


def open_clone(source: GitSource) -> GitRepo:
    """Create the clone in --workdir (or reuse the one there) and fetch once, so a wrong URL,
    branch or credential is one clear error before the first pass."""
    workdir = source.workdir
    if workdir.exists() and not workdir.is_dir():
        raise UsageError(f"--workdir {workdir} is a file; give a folder for the clone")
    workdir.mkdir(parents=True, exist_ok=True)
    repo = GitRepo(workdir)
    if (workdir / ".git").exists():
        url = repo.run("remote", "get-url", REMOTE, check=False).stdout.strip()
        if url != source.url:
            raise UsageError(
                f"--workdir {workdir} holds a clone of another repository ({url or 'none'}); "
                "give an empty folder or the one this --git URL was cloned into"
            )
    elif any(workdir.iterdir()):
        raise UsageError(
            f"--workdir {workdir} is not empty and holds no clone; give an empty folder "
            "(the reconciler keeps its own clone there)"
        )
    else:
        repo.run("init", "--quiet")
        repo.run("remote", "add", REMOTE, source.url)
        # The branch exists before the first checkout, so the write-back can be checked.
        repo.run("symbolic-ref", "HEAD", f"refs/heads/{source.branch}")
    repo.run("config", f"branch.{source.branch}.remote", REMOTE)
    repo.run("config", f"branch.{source.branch}.merge", f"refs/heads/{source.branch}")
    fetch(repo, source)
    return repo


def fetch(repo: GitRepo, source: GitSource) -> str:
    """Fetch BRANCH (history only, nothing checked out); the fetched commit."""
    refspec = f"+refs/heads/{source.branch}:refs/remotes/{REMOTE}/{source.branch}"
    result = repo.run("fetch", "--quiet", "--no-tags", REMOTE, refspec, check=False)
    if result.returncode != 0:
        raise GitError(
            f"cannot fetch {source.branch} from {source.url}: {summarize(result.stderr)}; "
            "check the URL, the branch and the credentials"
        )
    return repo.run("rev-parse", f"refs/remotes/{REMOTE}/{source.branch}^{{commit}}").stdout.strip()


def sync(source: GitSource, repo: GitRepo, state_path: str, *, lock_timeout: float) -> Checkout:
    """Before a pass: fetch, refuse what must not be reconciled, check the fetched commit
    out. Under the state lock: the checkout may rewrite a state file kept in the clone (a
    PostgreSQL state is not in the clone: nothing to guard, its lock is the pass's own)."""
    lock = (
        contextlib.nullcontext()
        if state_location.is_database(state_path)
        else StateLock(state_path, command="reconcile --git", timeout=lock_timeout)
    )
    with lock:
        fetched = fetch(repo, source)
        applied = _ref(repo, APPLIED_REF)
        if applied is not None and not repo.is_ancestor(applied, fetched):
            raise StaleCheckoutError(
                f"{source.branch} on {source.url} is now {fetched[:12]}, which does not contain "
                f"{applied[:12]}, the revision this clone already reconciled (was the branch "
                "force-pushed back?); refusing to reconcile it, since that would undo newer "
                "changes. Push a commit on top of the newer one to move on"
            )
        verify(repo, fetched, source.allowed_signers)
        _commit_left_over_state(source, repo, state_path)
        head = repo.head()
        if head is not None and head != fetched and not repo.is_ancestor(head, fetched):
            # Our write-back commit of an earlier pass did not reach the remote: push it now
            # (rebasing onto what was fetched) rather than dropping it with its model IDs.
            repo.push(state_path=Path(state_path) if source.holds(state_path) else None)
            fetched = fetch(repo, source)
            # Our own commits are checked like anyone's: sign them with an allowed key.
            verify(repo, fetched, source.allowed_signers)
        repo.run("checkout", "--quiet", "--force", "-B", source.branch, fetched)
        repo.run("update-ref", APPLIED_REF, fetched)
    return Checkout(repo, fetched)


def _commit_left_over_state(source: GitSource, repo: GitRepo, state_path: str) -> None:
    """A state file in the clone that differs from HEAD was saved by a pass whose commit
    never happened (killed between the save and the commit, a failing hook): commit it, so
    the checkout below cannot throw its model IDs away; the push then carries it."""
    path = Path(state_path)
    if not source.holds(state_path) or repo.head() is None or not path.exists():
        return
    if repo.has_changes(path):
        repo.commit_file(path, f"{LEFT_OVER} [skip ci]\n")


def verify(repo: GitRepo, revision: str, allowed_signers: Path | None) -> None:
    """--verify-commits: the commit must carry a good signature by a key in the allowed
    signers file (git's own SSH verification; GPG signatures via the keyring as usual)."""
    if allowed_signers is None:
        return
    result = repo.run(
        "-c",
        "gpg.format=ssh",
        "-c",
        f"gpg.ssh.allowedSignersFile={allowed_signers}",
        "verify-commit",
        revision,
        check=False,
    )
    if result.returncode != 0:
        raise GitError(
            f"refusing revision {revision[:12]}: its commit is not signed by a key in "
            f"{allowed_signers} ({summarize(result.stderr) if result.stderr else 'no signature'}"
            "); nothing from it is reconciled"
        )


def _ref(repo: GitRepo, ref: str) -> str | None:
    result = repo.run("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
    return result.stdout.strip() if result.returncode == 0 else None
