"""Real git repositories for tests: a bare remote, clones with their own identity, and the
environment that keeps the machine's own git configuration out of them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.support.cli import write_manifest

STATE = "tensormesh.state.json"
DRIVER = f"{sys.executable} -m reconciler state merge-driver %O %A %B"


def git_env(home: Path) -> dict[str, str]:
    """No global or system git config: each repository carries its own identity."""
    return {
        **os.environ,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_CONFIG_NOSYSTEM": "1",
    }


def git(cwd: Path, *args: str, check: bool = True) -> str:
    result = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, env=git_env(cwd), check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed in {cwd}: {result.stderr}")
    return result.stdout.strip()


# What docs/state.md tells users to keep out of git.
GITIGNORE = "*.state.json.lock\n*.state.json.lock.info\n*.state.json.journal\n*.state.json.tmp-*\n"


def make_remote(tmp_path: Path) -> Path:
    """A bare remote whose `main` holds one manifest (alpha) and the documented .gitignore."""
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    seed = clone(bare, tmp_path / "seed", "seed")
    write_manifest(seed / "manifests", "alpha")
    (seed / ".gitignore").write_text(GITIGNORE)
    git(seed, "add", "manifests", ".gitignore")
    git(seed, "commit", "-q", "-m", "add alpha")
    git(seed, "push", "-q", "origin", "HEAD:main")
    return bare


def clone(remote: Path, path: Path, who: str) -> Path:
    git(path.parent, "clone", "-q", str(remote), path.name)
    git(path, "config", "user.name", who)
    git(path, "config", "user.email", f"{who}@example.com")
    return path


def commit_all(work: Path, message: str) -> str:
    git(work, "add", "-A", ".")
    git(work, "commit", "-q", "-m", message)
    return git(work, "rev-parse", "HEAD")


def remote_state(remote: Path, branch: str = "main") -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(git(remote, "show", f"{branch}:{STATE}"))
    return loaded


def cli_env(sandbox_env: Mapping[str, str], work: Path) -> dict[str, str]:
    return {**sandbox_env, **git_env(work)}
