"""Run the real CLI as a subprocess (`python -m reconciler ...`), as users and CI do."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from tests.support.sandbox import PROJECT_ROOT


def run_cli(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    timeout: float = 120.0,
) -> subprocess.CompletedProcess[str]:
    """One CLI run; the environment is ours plus `env`, NO_COLOR set so output is plain."""
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    full_env.setdefault("PYTHONPATH", str(PROJECT_ROOT))
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd or PROJECT_ROOT,
        timeout=timeout,
        check=False,
    )


def assert_clean_failure(result: subprocess.CompletedProcess[str]) -> None:
    """Exit 1 with a message and no traceback."""
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.strip()


def write_manifest(folder: Path, name: str, **spec: object) -> Path:
    """One ModelDeployment file; spec fields override a small H100 deployment."""
    import yaml

    body = {
        "modelPath": "meta-llama/Llama-3.1-8B-Instruct",
        "gpuType": "GPU_TYPE_H100",
        "gpuCount": 1,
        "infra": {"cloudProvider": "CLOUD_PROVIDER_NEBIUS"},
        **spec,
    }
    document = {
        "apiVersion": "tensormesh.gitops/v1",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": body,
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path
