"""The layers in `.importlinter` are really checked: an upward import breaks `lint-imports`.

Runs the real `lint-imports` on a temporary copy of the package, once as it is (kept)
and once with a probe import of `reconciler.commands` from `reconciler.pipeline`
(broken). The copy keeps the worktree untouched; about a second per run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.cli


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "lint-imports"
    # PYTHONPATH first, so the copy shadows the editable install of the worktree.
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(exe), "--no-cache", "--config", str(root / ".importlinter")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def _copy_package(tmp_path: Path) -> Path:
    root = tmp_path / "copy"
    shutil.copytree(
        REPO / "reconciler", root / "reconciler", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(REPO / ".importlinter", root / ".importlinter")
    return root


@pytest.mark.parametrize(
    ("module", "probe", "broken"),
    [
        (
            "pipeline.py",
            "import reconciler.commands  # probe",
            "reconciler.pipeline is not allowed to import reconciler.commands",
        ),
        (
            "apply/entry.py",
            "import reconciler.pipeline  # probe",
            "- reconciler.apply.entry -> reconciler.pipeline",
        ),
        (
            "adapters/http_api.py",
            "import reconciler.adapters.state_file  # probe",
            "reconciler.adapters.http_api",
        ),
    ],
)
def test_upward_probe_import_breaks_the_contracts(
    tmp_path: Path, module: str, probe: str, broken: str
) -> None:
    root = _copy_package(tmp_path)
    kept = _lint_imports(root)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert ", 0 broken." in kept.stdout

    target = root / "reconciler" / module
    text = target.read_text(encoding="utf-8")
    # After the `from __future__` line, which must stay first.
    head, sep, rest = text.partition("from __future__ import annotations\n")
    assert sep, f"{module} has no `from __future__` line to anchor the probe"
    target.write_text(head + sep + probe + "\n" + rest, encoding="utf-8")

    result = _lint_imports(root)
    assert result.returncode != 0
    assert broken in result.stdout
