"""Golden files: compare byte for byte; `make golden` (UPDATE_GOLDEN=1) rewrites them."""

from __future__ import annotations

import os
from pathlib import Path

GOLDEN_DIR = Path(__file__).resolve().parent.parent / "golden"


def assert_golden(name: str, actual: str) -> None:
    path = GOLDEN_DIR / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"golden file {path} is missing; run `make golden`"
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, f"{name} differs from its golden file; review and `make golden`"
