"""Bad input at every door of the real CLI: one clear message, exit 1, no traceback, and
the state file's bytes untouched. Also: apply acts on the manifests as they are at apply time.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import assert_clean_failure, run_cli, write_manifest

pytestmark = pytest.mark.e2e


def _good_state(sandbox, tmp_path: Path) -> tuple[Path, Path]:
    folder, state = tmp_path / "m", tmp_path / "state.json"
    write_manifest(folder, "door")
    done = run_cli(["apply", str(folder), "--state", str(state), "--no-wait"], env=sandbox.env)
    assert done.returncode == 0, done.stderr
    return folder, state


def _damage(kind: str, text: str) -> str:
    document = json.loads(text)
    if kind == "corrupt":
        return "{this is not json"
    if kind == "truncated":
        return text[: len(text) // 2]
    if kind == "future-version":
        return json.dumps({**document, "formatVersion": 99})
    document["entries"]["door"]["modelId"] = 42  # hand-edited: schema-invalid
    return json.dumps(document)


@pytest.mark.parametrize("kind", ["corrupt", "truncated", "future-version", "hand-edited"])
def test_damaged_state_file(sandbox, tmp_path, kind):
    folder, state = _good_state(sandbox, tmp_path)
    state.write_text(_damage(kind, state.read_text()))
    before = state.read_bytes()
    calls = sandbox.stats()["createCalls"]
    for args in (
        ["plan", str(folder)],
        ["apply", str(folder), "--no-wait"],
        ["state", "list"],
        ["reconcile", str(folder), "--once"],
    ):
        result = run_cli([*args, "--state", str(state)], env=sandbox.env)
        assert_clean_failure(result)
        assert str(state) in result.stderr, (args, result.stderr)
        assert state.read_bytes() == before
    assert sandbox.stats()["createCalls"] == calls


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_api(tmp_path):
    folder, state = tmp_path / "m", tmp_path / "state.json"
    write_manifest(folder, "door")
    env = {
        "TENSORMESH_CONTROL_PLANE_BASE_URL": f"http://127.0.0.1:{_closed_port()}",
        "TENSORMESH_CONTROL_PLANE_TOKEN": "token-for-a-closed-port",
        "TENSORMESH_RETRY_BUDGET": "0",
    }
    for args in (["apply", str(folder), "--no-wait"], ["reconcile", str(folder), "--once"]):
        result = run_cli([*args, "--state", str(state)], env=env, timeout=60)
        assert_clean_failure(result)
        assert "no connection" in result.stderr and "BASE_URL" in result.stderr
    assert not state.exists() or "door" not in state.read_text()


def test_bad_retry_budget_is_a_usage_error(tmp_path):
    folder = tmp_path / "m"
    write_manifest(folder, "door")
    env = {"TENSORMESH_CONTROL_PLANE_TOKEN": "t", "TENSORMESH_RETRY_BUDGET": "soon"}
    result = run_cli(["apply", str(folder), "--state", str(tmp_path / "s.json")], env=env)
    assert_clean_failure(result)
    assert "TENSORMESH_RETRY_BUDGET" in result.stderr


def test_wrong_token_leaves_the_state_alone(sandbox, tmp_path):
    folder, state = _good_state(sandbox, tmp_path)
    write_manifest(folder, "door", gpuCount=2)
    before = state.read_bytes()
    env = {**sandbox.env, "TENSORMESH_CONTROL_PLANE_TOKEN": "wrong"}
    result = run_cli(["apply", str(folder), "--state", str(state), "--no-wait"], env=env)
    assert_clean_failure(result)
    assert "TENSORMESH_CONTROL_PLANE_TOKEN" in result.stderr + result.stdout
    assert "wrong" not in result.stderr.replace("wrong token", "")
    assert state.read_bytes() == before


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "tiny"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True, check=False)


def test_full_or_read_only_state_folder(sandbox, tmp_path, tiny_disk):
    folder, good = _good_state(sandbox, tmp_path)
    state = tiny_disk / "state.json"
    state.write_bytes(good.read_bytes())
    before = state.read_bytes()
    filler = tiny_disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass  # the disk is full, as wanted
    finally:
        os.close(fd)
    write_manifest(folder, "door", gpuCount=2)
    full = run_cli(["apply", str(folder), "--state", str(state), "--no-wait"], env=sandbox.env)
    assert_clean_failure(full)
    assert state.read_bytes() == before
    filler.unlink()
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_disk)], check=True)
    read_only = run_cli(["apply", str(folder), "--state", str(state), "--no-wait"], env=sandbox.env)
    assert_clean_failure(read_only)
    assert state.read_bytes() == before


def test_apply_acts_on_the_manifests_as_they_are_at_apply_time(sandbox, tmp_path):
    folder, state = tmp_path / "m", tmp_path / "state.json"
    write_manifest(folder, "moving", gpuCount=1)
    planned = run_cli(["plan", str(folder), "--state", str(state), "--output", "json"])
    assert json.loads(planned.stdout)["summary"]["create"] == 1
    write_manifest(folder, "moving", gpuCount=2)  # edited after the plan was shown
    write_manifest(folder, "late")
    applied = run_cli(["apply", str(folder), "--state", str(state), "--no-wait"], env=sandbox.env)
    assert applied.returncode == 0, applied.stderr
    live = {m["modelName"]: m for m in sandbox.list_models()}
    assert set(live) == {"moving", "late"} and live["moving"]["gpuCount"] == "2"
