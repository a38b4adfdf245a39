"""Metrics output: write the Prometheus text file atomically for node-exporter's textfile
collector (temp file in the same folder, fsync, rename). Renders nothing itself.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from reconciler.core.errors import ReconcilerError


def read_metrics(path: str | Path) -> str:
    """The previous metrics text, or "" when there is none (or it cannot be read)."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        # Losing old counts is better than failing a pass over a metrics file.
        return ""


def write_metrics(path: str | Path, text: str) -> None:
    """Replace the file in one rename, so the collector never reads half a file."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise ReconcilerError(
            f"cannot write metrics file {path}: {exc.strerror or exc}; "
            "check that its folder exists and is writable (--metrics-file)"
        ) from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp makes 0600; the collector usually runs as another user.
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ReconcilerError(
            f"cannot write metrics file {path}: {exc.strerror or exc}; check free space and "
            "permissions (--metrics-file)"
        ) from exc
