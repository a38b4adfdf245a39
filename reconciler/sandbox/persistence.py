"""`--data FILE`: loads the sandbox's models at start and rewrites the file atomically on change.

File I/O only. Records never hold hfToken or apiKey values, so neither can the file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from reconciler.core.errors import ReconcilerError
from reconciler.sandbox.records import StoredModel

FORMAT_VERSION = 1


class SandboxDataError(ReconcilerError):
    """The --data file cannot be read or written."""


def load_models(path: Path) -> list[StoredModel]:
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") != FORMAT_VERSION:
            raise ValueError(f"unsupported version {data.get('version')!r}")
        return [StoredModel.from_json(item) for item in data["models"]]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SandboxDataError(
            f"cannot load sandbox data from {path}: {exc}. "
            "Fix or remove the file (it only holds sandbox models) and start again"
        ) from exc


def save_models(path: Path, models: Iterable[StoredModel]) -> None:
    payload = {"version": FORMAT_VERSION, "models": [m.to_json() for m in models]}
    text = json.dumps(payload, indent=2, sort_keys=True)
    try:
        # Write a sibling temp file and rename it over: a crash leaves the old or the new file.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise SandboxDataError(f"cannot write sandbox data to {path}: {exc}") from exc
