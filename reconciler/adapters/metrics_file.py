"""Metrics output: write the Prometheus text file atomically for node-exporter's textfile
collector (temp file in the same folder, fsync, rename). Renders nothing itself.
"""

from __future__ import annotations

from pathlib import Path

from reconciler.adapters import atomic_file
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
        # 0644 whatever the umask: the collector usually runs as another user.
        atomic_file.replace_file(path, text.encode("utf-8"), new_mode=0o644)
    except OSError as exc:
        raise ReconcilerError(
            f"cannot write metrics file {path}: {exc.strerror or exc}; check that its folder "
            "exists, is writable and has free space (--metrics-file)"
        ) from exc
