"""Secret values never leak: every command's stdout/stderr, the state file, a journal left by
a killed apply, the lock holder record and a saved plan are searched for each known secret."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.cli import run_cli, write_manifest
from tests.support.sandbox import PROJECT_ROOT, start_sandbox

pytestmark = pytest.mark.e2e

HF = "hf_LEAKTEST_env_secret_9f8e7d"
KEY = "sk-LEAKTEST-file-secret-1a2b3c"
TOKEN = "cp-LEAKTEST-token-77aa88bb"


def test_no_secret_anywhere(tmp_path: Path) -> None:
    with start_sandbox(token=TOKEN, ready_after=0.1) as sandbox:
        folder, state, plan_file = tmp_path / "m", tmp_path / "state.json", tmp_path / "p.plan"
        for i in range(4):
            write_manifest(
                folder, f"leak-{i}", hfToken={"fromEnv": "LEAK_HF"}, apiKey={"fromFile": "k.txt"}
            )
        (folder / "k.txt").write_text(KEY + "\n")
        env = {**sandbox.env, "LEAK_HF": HF, "TENSORMESH_RETRY_BUDGET": "0"}
        base = ["--state", str(state)]
        texts: list[str] = []

        def run(*args: str) -> None:
            result = run_cli(list(args), env=env)
            assert "Traceback" not in result.stderr, result.stderr
            texts.extend([result.stdout, result.stderr])

        # A killed apply leaves a journal and a lock holder record behind.
        sandbox.set_faults(latencyMs=400)
        proc = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "apply", str(folder), *base, "--concurrency", "1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=PROJECT_ROOT,
            env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT), **env},
        )
        journal = Path(f"{state}.journal")
        deadline = time.monotonic() + 30
        while not journal.exists() or b'"entry"' not in journal.read_bytes():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        files = [journal.read_text(), Path(f"{state}.lock.info").read_text()]
        sandbox.set_faults(latencyMs=0)

        run("validate", str(folder))
        for fmt in ("text", "json", "markdown"):
            run("plan", str(folder), *base, "--output", fmt)
        run("plan", str(folder), *base, "--out", str(plan_file))
        run("show", str(plan_file))
        run("apply", str(folder), *base, "--no-wait")
        write_manifest(
            folder,
            "leak-0",
            gpuCount=2,
            hfToken={"fromEnv": "LEAK_HF"},
            apiKey={"fromFile": "k.txt"},
        )
        sandbox.set_faults(errorRate=1)  # an apply that fails
        run("apply", str(folder), *base, "--no-wait", "--output", "json")
        sandbox.set_faults(errorRate=0)
        run("apply", str(folder), *base, "--no-wait", "--output", "json")
        run("state", "list", *base)
        run("state", "list", *base, "--output", "json")
        run("state", "show", "leak-1", *base)
        run("reconcile", str(folder), *base, "--once", "--output", "json")
        files += [state.read_text(), plan_file.read_text()]

        # The apiKey the control plane generated for each model, read straight from it.
        returned = [m["apiKey"] for m in sandbox.list_models() if m.get("apiKey")]
        assert returned
        secrets = [HF, KEY, TOKEN, *returned]
        everything = "\n".join(texts + files)
        assert "leak-0" in everything  # the search looked at real output
        for secret in secrets:
            assert secret not in everything, "a secret value leaked"
