"""The PostgreSQL state end to end: the real CLI, the real sandbox and a real PostgreSQL.

Two checkouts applying at once against one workspace, kill -9 of the lock holder, plan
during an apply, workspaces side by side, migrate both ways, history, refusals in one line,
and the password in no output.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from reconciler.adapters import state_location, state_store
from tests.support.cli import assert_clean_failure, run_cli, start_cli, write_manifest
from tests.support.forked import ForkedProcess
from tests.support.postgres import PASSWORD
from tests.support.sandbox import PROJECT_ROOT, SandboxProcess, start_sandbox

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


@pytest.fixture(scope="module")
def slow_sandbox() -> Iterator[SandboxProcess]:
    with start_sandbox(ready_after=0.1) as process:
        yield process


@pytest.fixture(autouse=True)
def _latency(slow_sandbox: SandboxProcess) -> Iterator[None]:
    slow_sandbox.set_faults(latencyMs=200, errorRate=0, loseCreateRate=0, rateLimitEvery=0)
    yield
    slow_sandbox.set_faults(latencyMs=0)


def cli(args: list[str], env: dict[str, str], cwd: Path | None = None):  # type: ignore[no-untyped-def]
    result = run_cli(args, env=env, cwd=cwd)
    assert PASSWORD not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result


def start(
    args: list[str], env: dict[str, str], cwd: Path = PROJECT_ROOT
) -> subprocess.Popen[str] | ForkedProcess:
    return start_cli(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd,
        env={**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(PROJECT_ROOT), **env},
    )


def holder_pid(url: str, workspace: str = "default") -> int | None:
    with psycopg.connect(url) as conn:
        if conn.execute("SELECT to_regclass('tensormesh_lock_holders')").fetchone()[0] is None:
            return None
        row = conn.execute(
            """SELECT h.pid FROM tensormesh_lock_holders h
               JOIN tensormesh_workspaces w ON w.id = h.workspace_id WHERE w.name = %s""",
            (workspace,),
        ).fetchone()
    return None if row is None else int(row[0])


def wait_for_holder(url: str, pid: int, workspace: str = "default") -> None:
    deadline = time.monotonic() + 30
    while holder_pid(url, workspace) != pid:
        assert time.monotonic() < deadline, "the apply never took the lock"
        time.sleep(0.05)


def live_ids(sandbox: SandboxProcess, names: list[str]) -> dict[str, str]:
    return {
        m["modelName"]: m["modelId"]
        for m in sandbox.list_models()
        if m["status"] != "MODEL_STATUS_DELETED" and m["modelName"] in names
    }


def assert_consistent(sandbox: SandboxProcess, location: str, names: list[str]) -> None:
    """Every name created exactly once, and the recorded IDs are the live ones."""
    creates = sandbox.stats()["creates"]
    assert {name: creates.get(name) for name in names} == {name: 1 for name in names}
    recorded = state_store.read_state(location)
    assert {n: e.model_id for n, e in recorded.entries.items() if n in names} == live_ids(
        sandbox, names
    )
    assert not recorded.intents


def git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "HOME": str(cwd),
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env=env
    ).stdout.strip()


def checkout(bare: Path, path: Path, who: str) -> Path:
    git(bare.parent, "clone", "-q", str(bare), path.name)
    git(path, "config", "user.name", who)
    git(path, "config", "user.email", f"{who}@example.com")
    return path


def test_two_checkouts_apply_at_once_one_waits_nothing_twice_and_history_shows_both(
    slow_sandbox, pg_url, tmp_path
):
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    first = checkout(bare, tmp_path / "runner-a", "runner-a")
    names = [f"team-{i}" for i in range(5)]
    for name in names:
        write_manifest(first / "manifests", name)
    git(first, "add", "manifests")
    git(first, "commit", "-q", "-m", "five models")
    git(first, "push", "-q", "-u", "origin", "main")
    second = checkout(bare, tmp_path / "runner-b", "runner-b")
    write_manifest(second / "manifests", "team-extra")  # a later revision, one more model
    git(second, "add", "manifests")
    git(second, "commit", "-q", "-m", "one more")
    revisions = {git(first, "rev-parse", "HEAD"), git(second, "rev-parse", "HEAD")}

    env = {**slow_sandbox.env, "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}
    args = ["apply", "manifests", "--state", pg_url, "--no-wait", "--concurrency", "1"]
    # The older checkout takes the lock first: the newer one waits, then applies on top (the
    # other order refuses the older checkout as stale; see the test after this one).
    runs = [start([*args, "--lock-timeout", "120"], {**env, "HOME": str(first)}, cwd=first)]
    wait_for_holder(pg_url, runs[0].pid)
    runs.append(start([*args, "--lock-timeout", "120"], {**env, "HOME": str(second)}, cwd=second))
    outputs = [run.communicate(timeout=120) for run in runs]
    for run, (out, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, err
        assert PASSWORD not in out + err

    everything = [*names, "team-extra"]
    assert_consistent(slow_sandbox, f"{pg_url}#default", everything)
    history = json.loads(
        cli(["state", "history", "--state", pg_url, "--output", "json"], env).stdout
    )
    assert len(history) == 2
    assert {run["revision"] for run in history} == revisions
    assert {run["actor"]["git"] for run in history} == {
        "runner-a <runner-a@example.com>",
        "runner-b <runner-b@example.com>",
    }
    # The later run (the waiter) found the earlier one's models recorded: each name's create
    # appears in exactly one run's outcomes, with the ID the state holds.
    created = [o for run in history for o in run["outcomes"] if o["result"] == "created"]
    assert sorted(o["name"] for o in created) == sorted(everything)
    recorded = state_store.read_state(f"{pg_url}#default").entries
    assert all(recorded[o["name"]].model_id == o["modelId"] for o in created)


def test_an_older_checkout_is_refused_as_stale_by_a_database_state(slow_sandbox, pg_url, tmp_path):
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    older = checkout(bare, tmp_path / "older", "older")
    write_manifest(older / "manifests", "stale-a")
    git(older, "add", "manifests")
    git(older, "commit", "-q", "-m", "one model")
    git(older, "push", "-q", "-u", "origin", "main")
    newer = checkout(bare, tmp_path / "newer", "newer")
    write_manifest(newer / "manifests", "stale-b")
    git(newer, "add", "manifests")
    git(newer, "commit", "-q", "-m", "one more")
    env = {**slow_sandbox.env, "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}
    args = ["apply", "manifests", "--state", pg_url, "--no-wait"]
    applied = cli(args, {**env, "HOME": str(newer)}, cwd=newer)
    assert applied.returncode == 0, applied.stderr
    revision = git(newer, "rev-parse", "HEAD")
    assert state_store.read_state(f"{pg_url}#default").revision == revision

    refused = cli(args, {**env, "HOME": str(older)}, cwd=older)
    assert_clean_failure(refused)
    assert f"the state was applied from {revision[:12]}" in refused.stderr
    assert "pull first" in refused.stderr
    # Nothing undone: the newer checkout's model is still recorded and live.
    assert set(state_store.read_state(f"{pg_url}#default").entries) == {"stale-a", "stale-b"}
    assert set(live_ids(slow_sandbox, ["stale-a", "stale-b"])) == {"stale-a", "stale-b"}


def test_kill_9_of_the_holder_frees_the_lock_and_the_rerun_loses_nothing(
    slow_sandbox, pg_url, tmp_path
):
    folder = tmp_path / "m"
    names = [f"k9-{i}" for i in range(6)]
    for name in names:
        write_manifest(folder, name)
    args = ["apply", str(folder), "--state", pg_url, "--no-wait", "--concurrency", "1"]
    victim = start(args, slow_sandbox.env)
    wait_for_holder(pg_url, victim.pid)

    refused = cli([*args, "--lock-timeout", "0.3"], slow_sandbox.env)
    assert_clean_failure(refused)
    assert f"locked by `apply` (pid {victim.pid} on host" in refused.stderr
    assert "since 20" in refused.stderr and "***" in refused.stderr

    # plan reads without the lock, in a consistent snapshot, while the apply runs
    planned = cli(["plan", str(folder), "--state", pg_url, "--output", "json"], slow_sandbox.env)
    assert planned.returncode == 0, planned.stderr
    summary = json.loads(planned.stdout)["summary"]
    assert sum(summary[action] for action in ("create", "replace", "delete", "noop")) == len(names)

    time.sleep(0.6)  # some deploys done, one in flight
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)

    rerun = cli([*args, "--lock-timeout", "10"], slow_sandbox.env)
    assert rerun.returncode == 0, rerun.stderr
    assert_consistent(slow_sandbox, f"{pg_url}#default", names)


def test_workspaces_never_block_each_other(slow_sandbox, pg_url, tmp_path):
    # Two environments of one database, each with its own models (one user in the sandbox).
    for env_name in ("staging", "prod"):
        for i in range(3):
            write_manifest(tmp_path / env_name, f"{env_name}-{i}")

    def args(env_name: str) -> list[str]:
        return [
            "apply", str(tmp_path / env_name), "--state", pg_url, "--workspace", env_name,
            "--no-wait", "--concurrency", "1",
        ]  # fmt: skip

    holder = start(args("staging"), slow_sandbox.env)
    wait_for_holder(pg_url, holder.pid, "staging")
    other = cli([*args("prod"), "--lock-timeout", "0"], slow_sandbox.env)
    assert other.returncode == 0, other.stderr
    assert holder.wait(60) == 0
    prod = state_store.read_state(state_location.with_workspace(pg_url, "prod"))
    staging = state_store.read_state(state_location.with_workspace(pg_url, "staging"))
    assert set(prod.entries) == {"prod-0", "prod-1", "prod-2"}
    assert set(staging.entries) == {"staging-0", "staging-1", "staging-2"}
    assert prod.lineage != staging.lineage


def test_migrate_file_to_database_to_file_is_byte_identical(slow_sandbox, pg_url, tmp_path):
    folder, state = tmp_path / "m", tmp_path / "state.json"
    for name in ("mv-a", "mv-b"):
        write_manifest(folder, name, hfToken={"fromEnv": "HF_TOKEN"})
    env = {**slow_sandbox.env, "HF_TOKEN": "hf_migrate_secret_1"}
    assert cli(["apply", str(folder), "--state", str(state), "--no-wait"], env).returncode == 0
    original = state.read_bytes()

    moved = cli(
        ["state", "migrate", "--state", str(state), "--to", pg_url, "--workspace", "w"], env
    )
    assert moved.returncode == 0, moved.stderr
    assert "(workspace w)" in moved.stdout
    # The database plans exactly as the file did: nothing to do.
    plan = cli(["plan", str(folder), "--state", pg_url, "--workspace", "w"], env)
    assert plan.returncode == 0 and "2 unchanged" in plan.stdout

    back = tmp_path / "back.json"
    returned = cli(
        ["state", "migrate", "--state", str(back), "--from", pg_url, "--workspace", "w"], env
    )
    assert returned.returncode == 0, returned.stderr
    assert back.read_bytes() == original

    # A target that holds another state is never overwritten.
    other = tmp_path / "other.json"
    write_manifest(tmp_path / "o", "mv-other")
    assert (
        cli(["apply", str(tmp_path / "o"), "--state", str(other), "--no-wait"], env).returncode == 0
    )
    refused = cli(
        ["state", "migrate", "--state", str(other), "--to", pg_url, "--workspace", "w"], env
    )
    assert_clean_failure(refused)
    assert "refusing to overwrite" in refused.stderr


def test_state_rm_and_import_take_the_lock_and_land_in_history(slow_sandbox, pg_url, tmp_path):
    folder = tmp_path / "m"
    write_manifest(folder, "rm-a")
    env = slow_sandbox.env
    assert cli(["apply", str(folder), "--state", pg_url, "--no-wait"], env).returncode == 0
    model_id = state_store.read_state(f"{pg_url}#default").entries["rm-a"].model_id
    assert cli(["state", "rm", "rm-a", "--state", pg_url], env).returncode == 0
    imported = cli(["state", "import", "rm-a", model_id, "--state", pg_url], env)
    assert imported.returncode == 0, imported.stderr
    text = cli(["state", "history", "--state", pg_url, "--limit", "2"], env).stdout
    assert "`state import`" in text and "`state rm`" in text and "`apply`" not in text
    assert f"recorded rm-a {model_id}" in text and "forgotten rm-a" in text


def test_refusals_are_one_line_without_the_password(postgres_server, pg_url, tmp_path):
    folder = tmp_path / "m"
    write_manifest(folder, "x")
    bad_login = postgres_server.url("postgres", password="wrong-pass-4e1")
    unreachable = "postgresql://someone:pw-99@127.0.0.1:1/db"
    for url, reason in (
        (bad_login, "password authentication failed"),
        (unreachable, "Connection refused"),
    ):
        for args in (["plan", str(folder)], ["apply", str(folder)], ["state", "list"]):
            result = cli([*args, "--state", url], {})
            assert_clean_failure(result)
            assert len(result.stderr.strip().splitlines()) == 1, result.stderr
            assert reason in result.stderr
            assert "wrong-pass-4e1" not in result.stderr and "pw-99" not in result.stderr

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE tensormesh_meta (key text PRIMARY KEY, value text NOT NULL)")
        conn.execute("INSERT INTO tensormesh_meta VALUES ('schema_version', '7')")
    newer = cli(["plan", str(folder), "--state", pg_url], {})
    assert_clean_failure(newer)
    assert "schema version 7" in newer.stderr and "newer tensormesh-reconciler" in newer.stderr


def test_without_the_extra_a_postgres_url_says_how_to_install_it(pg_url, tmp_path):
    folder = tmp_path / "m"
    write_manifest(folder, "x")
    # The driver made unimportable, as in an install without the [postgres] extra.
    code = (
        "import sys; sys.modules['psycopg'] = None; from reconciler.cli import main; "
        f"sys.exit(main(['plan', {str(folder)!r}, '--state', {pg_url!r}]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        check=False,
    )
    assert_clean_failure(result)
    assert "pip install 'tensormesh-reconciler[postgres]'" in result.stderr
    assert PASSWORD not in result.stderr


def test_a_file_state_takes_no_workspace(tmp_path):
    write_manifest(tmp_path / "m", "x")
    result = cli(
        ["plan", str(tmp_path / "m"), "--state", str(tmp_path / "s.json"), "--workspace", "w"], {}
    )
    assert_clean_failure(result)
    assert "--workspace needs a PostgreSQL --state" in result.stderr


def test_saved_plans_work_against_the_database_and_go_stale_like_files(
    slow_sandbox, pg_url, tmp_path
):
    folder, saved = tmp_path / "m", tmp_path / "plan.json"
    write_manifest(folder, "sp-a")
    env = slow_sandbox.env
    state = ["--state", pg_url, "--workspace", "pr"]
    planned = cli(["plan", str(folder), *state, "--out", str(saved)], env)
    assert planned.returncode == 0, planned.stderr
    assert PASSWORD not in saved.read_text()
    applied = cli(["apply", "--plan", str(saved), *state, "--no-wait"], env)
    assert applied.returncode == 0, applied.stderr
    assert "sp-a" in state_store.read_state(state_location.with_workspace(pg_url, "pr")).entries

    write_manifest(folder, "sp-b")
    cli(["plan", str(folder), *state, "--out", str(saved)], env)
    assert cli(["apply", str(folder), *state, "--no-wait"], env).returncode == 0
    stale = cli(["apply", "--plan", str(saved), *state, "--no-wait"], env)
    assert_clean_failure(stale)
    assert "stale" in stale.stderr

    refused = cli(["apply", str(folder), *state, "--no-wait", "--commit"], env)
    assert_clean_failure(refused)
    assert "PostgreSQL state is saved in the database" in refused.stderr
    unlock = cli(["state", "unlock", *state], env)
    assert unlock.returncode == 0 and "needs no unlock" in unlock.stdout


def test_a_file_state_works_without_the_driver(tmp_path):
    write_manifest(tmp_path / "m", "x")
    code = (
        "import sys; sys.modules['psycopg'] = None; from reconciler.cli import main; "
        f"sys.exit(main(['plan', {str(tmp_path / 'm')!r}, '--state', "
        f"{str(tmp_path / 's.json')!r}, '--detailed-exitcode']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_ROOT, check=False
    )
    assert result.returncode == 2, result.stderr
    assert "1 to create" in result.stdout


def test_reconcile_corrects_under_the_workspace_lock_and_is_in_history(
    slow_sandbox, pg_url, tmp_path
):
    folder = tmp_path / "m"
    write_manifest(folder, "rc-a")
    env = slow_sandbox.env
    assert cli(["apply", str(folder), "--state", pg_url, "--no-wait"], env).returncode == 0
    gone = state_store.read_state(f"{pg_url}#default").entries["rc-a"].model_id
    slow_sandbox.delete_model(gone)
    healed = cli(["reconcile", str(folder), "--state", pg_url, "--once", "--output", "json"], env)
    assert healed.returncode == 0, healed.stderr
    now = state_store.read_state(f"{pg_url}#default").entries["rc-a"].model_id
    assert now != gone and live_ids(slow_sandbox, ["rc-a"]) == {"rc-a": now}
    newest = json.loads(
        cli(["state", "history", "--state", pg_url, "--output", "json", "--limit", "1"], env).stdout
    )[0]
    assert newest["command"] == "reconcile"
    assert [(o["name"], o.get("modelId")) for o in newest["outcomes"]] == [("rc-a", now)]


def test_adopt_records_into_a_workspace_and_names_no_file_to_commit(slow_sandbox, pg_url, tmp_path):
    slow_sandbox.create_model(
        {
            "modelName": "adopt-pg",
            "modelPath": "Qwen/Qwen2.5-32B-Instruct",
            "gpuType": "GPU_TYPE_H200",
            "gpuCount": 4,
            "infra": {"cloudProvider": "CLOUD_PROVIDER_LAMBDA"},
        }
    )
    out = tmp_path / "adopted"
    env = slow_sandbox.env
    where = ["--state", pg_url, "--workspace", "onboard"]
    adopted = cli(["adopt", "--out", str(out), *where, "--target", "adopt-pg"], env, cwd=tmp_path)
    assert adopted.returncode == 0, adopted.stderr
    assert (out / "adopt-pg.yaml").exists()
    # The next steps name the workspace, and commit only the manifests: no state file.
    assert "--workspace onboard" in adopted.stdout
    assert f"git add {out} &&" in adopted.stdout
    assert "adopt-pg" in state_store.read_state(f"{pg_url}#onboard").entries
    assert "adopt-pg" not in state_store.read_state(f"{pg_url}#default").entries
    plan = cli(["plan", str(out), *where, "--detailed-exitcode"], env)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    newest = json.loads(
        cli(["state", "history", *where, "--output", "json", "--limit", "1"], env).stdout
    )[0]
    assert newest["command"] == "adopt"
    assert [o["name"] for o in newest["outcomes"]] == ["adopt-pg"]


def test_reconcile_pull_on_a_database_state_takes_no_file_lock_and_records_the_revision(
    slow_sandbox, pg_url, tmp_path
):
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    author = checkout(bare, tmp_path / "author", "author")
    write_manifest(author / "manifests", "pull-pg")
    git(author, "add", "manifests")
    git(author, "commit", "-q", "-m", "one model")
    git(author, "push", "-q", "-u", "origin", "main")
    runner = checkout(bare, tmp_path / "runner", "runner")
    write_manifest(author / "manifests", "pull-pg-2")  # pushed after the runner cloned
    git(author, "add", "manifests")
    git(author, "commit", "-q", "-m", "another")
    git(author, "push", "-q")
    env = {**slow_sandbox.env, "HOME": str(runner), "GIT_CONFIG_GLOBAL": "/dev/null"}
    where = ["--state", pg_url, "--workspace", "pulled"]
    ran = cli(["reconcile", "manifests", *where, "--pull", "--once"], env, cwd=runner)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert sorted(state_store.read_state(f"{pg_url}#pulled").entries) == ["pull-pg", "pull-pg-2"]
    # Nothing beside the clone's own files: no lock file named after the URL.
    assert sorted(p.name for p in runner.iterdir()) == [".git", "manifests"]
    newest = json.loads(
        cli(["state", "history", *where, "--output", "json", "--limit", "1"], env).stdout
    )[0]
    assert newest["revision"] == git(author, "rev-parse", "HEAD")


def test_reconcile_git_mode_keeps_a_database_state_out_of_its_clone(slow_sandbox, pg_url, tmp_path):
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    author = checkout(bare, tmp_path / "author", "author")
    write_manifest(author / "deploy", "git-pg")
    git(author, "add", "deploy")
    git(author, "commit", "-q", "-m", "one model")
    git(author, "push", "-q", "-u", "origin", "main")
    pushed = git(author, "rev-parse", "HEAD")
    workdir = tmp_path / "clone"
    env = {**slow_sandbox.env, "HOME": str(tmp_path), "GIT_CONFIG_GLOBAL": "/dev/null"}
    where = ["--state", pg_url, "--workspace", "pullmode"]
    ran = cli(
        [
            "reconcile",
            *where,
            "--git",
            str(bare),
            "--ref",
            "main",
            "--path",
            "deploy",
            "--workdir",
            str(workdir),
            "--once",
        ],
        env,
        cwd=tmp_path,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    state = state_store.read_state(f"{pg_url}#pullmode")
    assert list(state.entries) == ["git-pg"] and state.revision == pushed
    assert sorted(p.name for p in workdir.iterdir()) == [".git", "deploy"]
    assert not any(p.name.startswith("postgres") for p in tmp_path.iterdir())
    assert git(bare, "rev-parse", "main") == pushed  # nothing pushed back
    newest = json.loads(
        cli(["state", "history", *where, "--output", "json", "--limit", "1"], env).stdout
    )[0]
    assert newest["command"] == "reconcile" and newest["revision"] == pushed
