"""The real CLI (subprocess) against the real sandbox: a symlinked state file, and hostile
state files and CLI values that must fail before any API call."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.support.cli import assert_clean_failure, run_cli, write_manifest

pytestmark = pytest.mark.e2e


def test_apply_through_a_symlinked_state_file(sandbox, tmp_path: Path) -> None:
    folder = tmp_path / "m"
    write_manifest(folder, "linked")
    (tmp_path / "real").mkdir()
    link = tmp_path / "state.json"
    link.symlink_to(Path("real") / "state.json")
    done = run_cli(["apply", str(folder), "--state", str(link), "--no-wait"], env=sandbox.env)
    assert done.returncode == 0, done.stderr
    assert link.is_symlink() and os.readlink(link) == os.path.join("real", "state.json")
    target = tmp_path / "real" / "state.json"
    assert "linked" in json.loads(target.read_text())["entries"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m", "real", "state.json"]
    again = run_cli(["plan", str(folder), "--state", str(link)], env=sandbox.env)
    assert again.returncode == 0 and "0 to create" in again.stdout, again.stdout


@pytest.mark.parametrize(
    "content",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"formatVersion": 1, "serial": ' + b"9" * 5000 + b"}",
        b'{"formatVersion": 1, "formatVersion": 1}',
        b"<<<<<<< HEAD\n{}\n=======\n{}\n>>>>>>> main\n",
    ],
    ids=["deep", "huge-int", "duplicate-key", "conflict"],
)
def test_hostile_state_fails_before_any_call(sandbox, tmp_path: Path, content: bytes) -> None:
    folder, state = tmp_path / "m", tmp_path / "state.json"
    write_manifest(folder, "hostile")
    state.write_bytes(content)
    calls = sandbox.stats()["createCalls"]
    for args in (["apply", str(folder), "--no-wait"], ["reconcile", str(folder), "--once"]):
        result = run_cli([*args, "--state", str(state)], env=sandbox.env)
        assert_clean_failure(result)
        assert "internal error" not in result.stderr and str(state) in result.stderr
        if args[0] == "apply":  # reconcile logs the failed pass (and its summary line)
            assert result.stderr.count("\n") == 1, result.stderr
    assert state.read_bytes() == content
    assert sandbox.stats()["createCalls"] == calls


def test_a_newline_in_the_token_fails_before_any_call(sandbox, tmp_path: Path) -> None:
    folder, state = tmp_path / "m", tmp_path / "state.json"
    write_manifest(folder, "token")
    env = {**sandbox.env, "TENSORMESH_CONTROL_PLANE_TOKEN": "sandbox-token\r\nX-Evil: yes"}
    calls = sandbox.stats()["createCalls"]
    result = run_cli(["apply", str(folder), "--state", str(state), "--no-wait"], env=env)
    assert_clean_failure(result)
    assert "TENSORMESH_CONTROL_PLANE_TOKEN" in result.stderr and "X-Evil" not in result.stderr
    assert sandbox.stats()["createCalls"] == calls
