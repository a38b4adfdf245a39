"""Starts the real sandbox as a subprocess on a free loopback port, for tests and benchmarks.

`start_sandbox()` returns a SandboxProcess once the server printed its ready line; admin helpers
call the API directly with httpx. Usable as a context manager; always stop() what you start.
"""

from __future__ import annotations

import re
import signal
import subprocess
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from tests.support.forked import ForkedProcess

PROJECT_ROOT = Path(__file__).resolve().parents[2]
_READY = re.compile(r"sandbox listening on (\S+) \(token: (.*), user: ([0-9a-f-]+)\)")
START_TIMEOUT = 20.0
# A new model is INIT for 1 ms: created INIT, UP by the first poll of `apply`'s wait, so a wait
# ends without the 2 s sleep before a second poll (tests that need INIT to last pass their own).
READY_AFTER = 0.001


class SandboxStartError(RuntimeError):
    """The sandbox exited or stayed silent instead of printing its ready line."""


class SandboxProcess:
    def __init__(
        self,
        proc: subprocess.Popen[str] | ForkedProcess,
        stdout: IO[str],
        stderr: IO[str],
        ready_line: str,
    ) -> None:
        match = _READY.search(ready_line)
        assert match, ready_line
        self.proc = proc
        self._stdout = stdout
        self.url, self.token, self.user_id = match.group(1), match.group(2), match.group(3)
        self.ready_line = ready_line
        self._stderr = stderr
        self.client = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=10.0
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def env(self) -> dict[str, str]:
        """Environment variables that point the reconciler CLI at this sandbox."""
        return {
            "TENSORMESH_CONTROL_PLANE_BASE_URL": self.url,
            "TENSORMESH_CONTROL_PLANE_TOKEN": self.token,
        }

    def stderr_text(self) -> str:
        self._stderr.flush()
        self._stderr.seek(0)
        return self._stderr.read()

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, wait, SIGKILL if it hangs; returns the exit code."""
        self.client.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        self._stdout.close()
        return self.proc.wait()

    def __enter__(self) -> SandboxProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # Direct API helpers (no reconciler code involved).
    def _json(self, response: httpx.Response) -> Any:
        response.raise_for_status()
        return response.json()

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self._json(self.client.get("/_sandbox/stats"))
        return result

    def list_models(self) -> list[dict[str, Any]]:
        models: list[dict[str, Any]] = self._json(self.client.get("/v1/models"))["models"]
        return models

    def create_model(self, body: Mapping[str, Any]) -> dict[str, Any]:
        model: dict[str, Any] = self._json(self.client.post("/v1/models", json=dict(body)))["model"]
        return model

    def delete_model(self, model_id: str) -> None:
        self._json(self.client.delete(f"/v1/models/{model_id}"))

    def fail_model(self, model_id: str) -> dict[str, Any]:
        model: dict[str, Any] = self._json(self.client.post(f"/_sandbox/models/{model_id}:fail"))[
            "model"
        ]
        return model

    def patch_model(self, model_id: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        response = self.client.patch(f"/_sandbox/models/{model_id}", json=dict(fields))
        model: dict[str, Any] = self._json(response)["model"]
        return model

    def reset(self) -> None:
        """No models, the starting knobs, counters and token: as freshly started."""
        self._json(self.client.post("/_sandbox/reset"))

    def set_faults(self, **knobs: float) -> dict[str, Any]:
        """Knobs by JSON name: errorRate, loseCreateRate, failRate, rateLimitEvery, latencyMs."""
        result: dict[str, Any] = self._json(self.client.post("/_sandbox/faults", json=knobs))
        return result


def start_sandbox(
    *extra_args: str,
    token: str = "test-token",
    ready_after: float = READY_AFTER,
    env: Mapping[str, str] | None = None,
    timeout: float = START_TIMEOUT,
) -> SandboxProcess:
    """Start `python -m reconciler sandbox --port 0 ...` and wait for its ready line."""
    from tests.support.cli import start_cli
    from tests.support.forked import base_environment

    args = ["sandbox", "--port", "0", "--token", token, "--ready-after", str(ready_after)]
    args += extra_args
    # A file, not a pipe: a full pipe would block the server. SandboxProcess owns it from here.
    stderr = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115
    proc = start_cli(
        args, env=base_environment(env), cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=stderr
    )
    stdout = proc.stdout
    assert stdout is not None
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    line = lines[0] if lines else ""
    if not _READY.search(line):
        proc.kill()
        proc.wait()
        stderr.seek(0)
        captured = stderr.read()
        stderr.close()
        raise SandboxStartError(
            f"sandbox did not start (exit {proc.returncode}); stdout {line!r}; stderr:\n{captured}"
        )
    return SandboxProcess(proc, stdout, stderr, line.strip())
