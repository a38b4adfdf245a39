"""The demo (`make demo`): the real CLI against a local sandbox, start to finish.

Starts the sandbox, validates, plans and applies examples/manifests, shows the
recorded state, plans again to show nothing is left to do, checks the live API for
drift, then stops the sandbox.
The state file goes to a temporary folder so the repository stays clean.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANIFESTS = ROOT / "examples" / "manifests"
READY = re.compile(r"sandbox listening on (\S+) \(token: (.*), user: ")


def banner(text: str) -> None:
    print(f"\n\033[1m$ {text}\033[0m" if sys.stdout.isatty() else f"\n$ {text}", flush=True)


def run(args: list[str], env: dict[str, str], *, expect: tuple[int, ...] = (0,)) -> int:
    shown = " ".join(["tensormesh-reconciler", *args]).replace(str(ROOT) + "/", "")
    banner(shown)
    code = subprocess.call([sys.executable, "-m", "reconciler", *args], env=env, cwd=ROOT)
    if code not in expect:
        raise SystemExit(f"demo: `{shown}` exited {code}, expected {expect}")
    return code


def main() -> int:
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "sandbox", "--port", "0", "--ready-after", "3"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert sandbox.stdout is not None
        line = sandbox.stdout.readline()
        match = READY.search(line)
        if not match:
            raise SystemExit(f"demo: the sandbox did not start: {line!r}")
        print(line.strip())
        env = {
            **os.environ,
            "TENSORMESH_CONTROL_PLANE_BASE_URL": match.group(1),
            "TENSORMESH_CONTROL_PLANE_TOKEN": match.group(2),
            # Demo values for the secret references in examples/manifests.
            "HF_TOKEN": os.environ.get("HF_TOKEN", "hf_demo_token_not_a_real_secret"),
            "QWEN_API_KEY": os.environ.get("QWEN_API_KEY", "demo-inference-key"),
        }
        with tempfile.TemporaryDirectory(prefix="tensormesh-demo-") as folder:
            state = str(Path(folder) / "tensormesh.state.json")
            manifests = str(MANIFESTS)
            run(["validate", manifests], env)
            run(["plan", manifests, "--state", state, "--detailed-exitcode"], env, expect=(2,))
            run(["apply", manifests, "--state", state, "--wait-timeout", "60"], env)
            run(["state", "list", "--state", state], env)
            run(["plan", manifests, "--state", state, "--detailed-exitcode"], env, expect=(0,))
            run(["reconcile", manifests, "--state", state, "--once", "--detect-only"], env)
        print("\ndemo: done — 4 deployments created, recorded, and nothing left to do.")
        return 0
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
