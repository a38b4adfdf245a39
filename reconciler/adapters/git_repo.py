"""Git step of the write-back: commit one file and push it, through the `git` program.

Runs `git` with argument lists (never a shell) and turns failures into GitError with git's
stderr summarised. Never force-pushes, never stashes, never leaves a rebase or conflict
markers behind; decides nothing about what to commit or when.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from reconciler.adapters import git_merge_driver
from reconciler.core.errors import GitError

GIT_TIMEOUT = 120.0
# Refuse to invent an identity from the host name: commits must be attributable.
_STRICT_IDENTITY = ("-c", "user.useConfigOnly=true")
_REJECTED = ("[rejected]", "non-fast-forward", "fetch first", "failed to push some refs")
# https://user:token@host in a remote URL must never reach a message.
_URL_CREDENTIALS = re.compile(r"(://)[^/@\s]+@")


@dataclass(frozen=True, slots=True)
class PushTarget:
    remote: str
    branch: str  # the remote branch name, without refs/heads/


@dataclass(frozen=True, slots=True)
class PushOutcome:
    target: PushTarget
    attempts: int  # pushes tried; > 1 means a rejected push was rebased and retried


class GitRepo:
    """A git work tree, driven by the `git` command."""

    def __init__(self, root: Path, *, git: str = "git") -> None:
        self.root = root
        self._git = git

    @classmethod
    def find_optional(cls, path: str | Path, *, git: str = "git") -> GitRepo | None:
        """The work tree holding `path`, or None outside git (or without git installed)."""
        try:
            return cls.find(path, git=git)
        except GitError:
            return None

    @classmethod
    def find(cls, path: str | Path, *, git: str = "git") -> GitRepo:
        """The work tree holding `path` (a file or folder); GitError when there is none."""
        folder = Path(path).resolve()
        if not folder.is_dir():
            folder = folder.parent
        result = _run([git, "-C", str(folder), "rev-parse", "--show-toplevel"], cwd=folder)
        if result.returncode != 0:
            raise GitError(
                f"--commit needs a git work tree, but {folder} is not inside one "
                f"({summarize(result.stderr)}); run apply in a clone, or drop --commit"
            )
        return cls(Path(result.stdout.strip()), git=git)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = _run([self._git, *_STRICT_IDENTITY, *args], cwd=self.root)
        if check and result.returncode != 0:
            raise GitError(f"`git {args[0]}` failed in {self.root}: {summarize(result.stderr)}")
        return result

    def identity(self) -> str:
        """`Name <email>` that commits will carry; GitError when none is configured."""
        result = self.run("var", "GIT_COMMITTER_IDENT", check=False)
        if result.returncode != 0:
            raise GitError(
                f"no git identity is configured in {self.root} ({summarize(result.stderr)}); "
                'set one, e.g. `git config user.name "tensormesh-bot"` and '
                '`git config user.email "bot@example.com"`'
            )
        # "Name <email> 1700000000 +0000": drop the timestamp.
        return result.stdout.rsplit(" ", 2)[0].strip()

    def current_branch(self) -> str:
        result = self.run("symbolic-ref", "--quiet", "--short", "HEAD", check=False)
        if result.returncode != 0:
            raise GitError(
                f"cannot push from {self.root}: HEAD is detached, not on a branch; check out "
                "the branch to write back to (actions/checkout with `ref: main`)"
            )
        return result.stdout.strip()

    def head(self) -> str | None:
        """The commit checked out; None in a repository without commits."""
        result = self.run("rev-parse", "--verify", "--quiet", "HEAD^{commit}", check=False)
        return result.stdout.strip() if result.returncode == 0 else None

    def is_ancestor(self, older: str, newer: str) -> bool:
        """Whether commit `older` is in the history of `newer`; False when either is unknown."""
        result = self.run("merge-base", "--is-ancestor", older, newer, check=False)
        return result.returncode == 0

    def contains(self, revision: str) -> bool:
        """Whether this checkout has `revision` in the history of HEAD."""
        known = self.run("cat-file", "-e", f"{revision}^{{commit}}", check=False)
        return known.returncode == 0 and self.is_ancestor(revision, "HEAD")

    def is_ignored(self, path: Path) -> bool:
        """Whether git would ignore `path` (a tracked file never is)."""
        result = self.run("check-ignore", "--quiet", "--", self.relative(path), check=False)
        return result.returncode == 0

    def changed_paths(self) -> tuple[str, ...]:
        """Tracked files with staged or unstaged changes (untracked files are not listed)."""
        result = self.run("status", "--porcelain", "--untracked-files=no", "-z")
        entries = result.stdout.split("\0")
        return tuple(entry[3:] for entry in entries if len(entry) > 3)

    def check_remote(self, remote: str) -> None:
        if self.run("remote", "get-url", remote, check=False).returncode != 0:
            raise GitError(
                f"cannot push from {self.root}: the branch has no upstream and there is no "
                f"remote {remote!r}; add one (`git remote add origin URL`) or set an upstream "
                "(`git push -u REMOTE BRANCH` once), or drop --push"
            )

    def pull_fast_forward(self) -> None:
        """`git pull --ff-only`: bring the checkout up to its upstream, never merging."""
        result = self.run("pull", "--ff-only", "--quiet", check=False)
        if result.returncode != 0:
            raise GitError(
                f"`git pull --ff-only` failed in {self.root}: "
                f"{summarize(result.stderr or result.stdout)}; this clone has changes its "
                "remote does not have. Push or reset them, then the next pass pulls again"
            )

    def has_changes(self, path: Path) -> bool:
        """Whether `path` differs from HEAD (or is not tracked yet)."""
        relative = self.relative(path)
        tracked = self.run("ls-files", "--error-unmatch", "--", relative, check=False)
        if tracked.returncode != 0:
            return path.exists()
        diff = self.run("diff", "--quiet", "HEAD", "--", relative, check=False)
        return diff.returncode != 0

    def commit_file(self, path: Path, message: str) -> str | None:
        """Commit `path` alone (other staged changes stay staged); the new commit's id, or
        None when the file equals HEAD."""
        if not self.has_changes(path):
            return None
        relative = self.relative(path)
        self.run("add", "--", relative)
        # A pathspec commits exactly that file, whatever else the index holds.
        self.run("commit", "--quiet", "-m", message, "--", relative)
        return self.run("rev-parse", "HEAD").stdout.strip()

    def push_target(self) -> PushTarget:
        """The current branch's upstream, else `origin <branch>`."""
        branch = self.current_branch()
        remote = self.run("config", "--get", f"branch.{branch}.remote", check=False)
        merge = self.run("config", "--get", f"branch.{branch}.merge", check=False)
        if remote.returncode == 0 and merge.returncode == 0 and remote.stdout.strip() != ".":
            return PushTarget(
                remote.stdout.strip(), merge.stdout.strip().removeprefix("refs/heads/")
            )
        return PushTarget("origin", branch)

    def amend_file(self, path: Path) -> None:
        """Fold the current content of `path` into the last commit, message unchanged."""
        relative = self.relative(path)
        self.run("add", "--", relative)
        self.run("commit", "--quiet", "--amend", "--no-edit", "--", relative)

    def push(
        self,
        *,
        attempts: int = 3,
        state_path: Path | None = None,
        after_rebase: Callable[[], None] | None = None,
    ) -> PushOutcome:
        """Push HEAD; when the remote moved on, fetch, rebase onto it and try again.

        The rebase merges `state_path` with the state merge driver; `after_rebase` runs
        after each successful rebase (the write-back fixes the state's revision there)."""
        target = self.push_target()
        refspec = f"HEAD:refs/heads/{target.branch}"
        for attempt in range(1, attempts + 1):
            result = self.run("push", "--porcelain", target.remote, refspec, check=False)
            if result.returncode == 0:
                return PushOutcome(target, attempt)
            if not _is_rejection(result.stdout + result.stderr):
                raise GitError(
                    f"git push to {target.remote} {target.branch} failed: "
                    f"{summarize(result.stderr or result.stdout)}; check the remote and the "
                    "job's write permission (GitHub: `permissions: contents: write`)"
                )
            if attempt < attempts:
                self._rebase_onto(target, state_path)
                if after_rebase is not None:
                    after_rebase()
        raise GitError(
            f"git push to {target.remote} {target.branch} was rejected {attempts} times: the "
            "branch keeps moving. The state commit is kept locally; push it by hand "
            "(`git pull --rebase && git push`), never with --force"
        )

    def _rebase_onto(self, target: PushTarget, state_path: Path | None) -> None:
        """Fetch the branch and replay our commits on it; on any failure, abort: the work
        tree and our commits are left exactly as before, never with conflict markers."""
        fetched = self.run("fetch", "--quiet", target.remote, target.branch, check=False)
        if fetched.returncode != 0:
            raise GitError(
                f"our push was rejected and fetching {target.remote} {target.branch} failed: "
                f"{summarize(fetched.stderr)}; the state commit is kept locally: push it later "
                "with `git pull --rebase && git push`"
            )
        with self._merge_settings(state_path) as config:
            result = self.run(*config, "rebase", "--quiet", "FETCH_HEAD", check=False)
        if result.returncode == 0:
            return
        self.run("rebase", "--abort", check=False)
        raise GitError(
            f"our push was rejected and rebasing the state commit onto {target.remote}/"
            f"{target.branch} failed ({_rebase_failure(result.stderr + result.stdout)}); the "
            "rebase was aborted: the state file and the local commit keep every model ID of "
            "this run. Next: `git pull --rebase` (with the state merge driver installed, see "
            "docs/state.md), resolve what it names, `git push`, then run plan again"
        )

    def _merge_settings(self, state_path: Path | None) -> AbstractContextManager[list[str]]:
        if state_path is None:
            return nullcontext([])
        return git_merge_driver.git_settings(
            self.relative(state_path), user_attributes=self._global_attributes()
        )

    def _global_attributes(self) -> list[str]:
        """The user's global attributes, which our `-c core.attributesFile` would hide."""
        configured = self.run("config", "--path", "--get", "core.attributesFile", check=False)
        if configured.returncode == 0 and configured.stdout.strip():
            path = Path(configured.stdout.strip()).expanduser()
        else:
            config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
            path = Path(config_home) / "git" / "attributes"
        try:
            return path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            return []

    def relative(self, path: Path) -> str:
        try:
            return str(path.resolve().relative_to(self.root.resolve()))
        except ValueError as exc:
            raise GitError(
                f"{path} is outside the git work tree {self.root}; keep the state file in "
                "the repository to commit it"
            ) from exc


def _rebase_failure(output: str) -> str:
    """The state merge driver's own words (which entries conflict) when it spoke, else git's."""
    lines = output.splitlines()
    named = [line.strip() for line in lines if "cannot merge" in line]
    named = named or [line.strip() for line in lines if line.startswith("CONFLICT")]
    return _URL_CREDENTIALS.sub(r"\1***@", " / ".join(named)) if named else summarize(output)


def summarize(stderr: str, *, max_chars: int = 400) -> str:
    """git's own words, short: the last meaningful lines, hints dropped, credentials hidden."""
    lines = [
        line.strip()
        for line in stderr.splitlines()
        if line.strip() and not line.lstrip().startswith("hint:")
    ]
    text = " / ".join(lines[-3:]) or "no message from git"
    text = _URL_CREDENTIALS.sub(r"\1***@", text)
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def _is_rejection(output: str) -> bool:
    return any(marker in output for marker in _REJECTED)


def _run(args: list[str], *, cwd: Path) -> subprocess.CompletedProcess[str]:
    # No prompt can be answered in a pipeline; C locale keeps git's messages parseable.
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    try:
        return subprocess.run(
            args,
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
            check=False,
        )
    except FileNotFoundError as exc:
        raise GitError(
            f"the `{args[0]}` program was not found; install git to use --commit/--push"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise GitError(
            f"`git {' '.join(args[1:3])}` took longer than {GIT_TIMEOUT:g}s in {cwd} and was "
            "stopped; check the network and the remote"
        ) from exc
