"""`.tensormeshignore`: name globs of live models that are not this repository's business.

One glob per line in the manifests' folder (a PATH that is a file: its folder); blank lines
and `#` comments are skipped. Read only; a missing file means no globs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from reconciler.core.errors import UsageError

IGNORE_FILE = ".tensormeshignore"


def read_ignore_globs(paths: Sequence[str]) -> tuple[str, ...]:
    globs: list[str] = []
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        folder = path if path.is_dir() else path.parent
        candidate = (folder / IGNORE_FILE).resolve()
        if candidate in seen:
            continue
        seen.add(candidate)
        try:
            text = candidate.read_text(encoding="utf-8")
        except FileNotFoundError:
            continue
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read {candidate}: {exc}") from exc
        for line in text.splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                globs.append(line)
    return tuple(globs)
