"""Plan-file step: write a saved plan atomically and read one back, checked against its schema.

Files and JSON only; what the document means is core/saved_plan.py. Refuses corrupt, foreign
and future-version files with one PlanFileError each.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reconciler.adapters import atomic_file, schema_files, strict_json
from reconciler.core import saved_plan
from reconciler.core.errors import PlanFileError
from reconciler.core.saved_plan import SavedPlan


def encode_plan(saved: SavedPlan) -> bytes:
    """The file's exact bytes: same plan, same bytes (sorted keys, no timestamps)."""
    document = saved_plan.saved_plan_to_json(saved)
    return (json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


def write_plan_file(path: str | Path, saved: SavedPlan) -> None:
    """Replace `path` atomically: a crash leaves the old file or the new one, never half."""
    path = Path(path)
    data = encode_plan(saved)
    try:
        atomic_file.replace_file(path, data)
    except OSError as exc:
        raise PlanFileError(
            f"cannot write plan file {path}: {exc.strerror or exc}; check that its folder "
            "exists and is writable"
        ) from exc


def read_plan_file(path: str | Path) -> SavedPlan:
    """The saved plan in `path`, or one PlanFileError saying what is wrong and what to do."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise PlanFileError(
            f"plan file {path} does not exist; make one with "
            "`tensormesh-reconciler plan PATH... --out FILE`"
        ) from exc
    except OSError as exc:
        raise PlanFileError(f"cannot read plan file {path}: {exc.strerror or exc}") from exc
    return parse_plan(data, source=str(path))


def parse_plan(data: bytes, *, source: str) -> SavedPlan:
    hint = "make a new plan with `tensormesh-reconciler plan PATH... --out FILE`"
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
        obj: Any = strict_json.loads(text)
        strict_json.check_depth(text, [obj], depth=1)
    except UnicodeDecodeError as exc:
        raise PlanFileError(f"plan file {source} is not UTF-8 text; {hint}") from exc
    except strict_json.BadJson as exc:
        raise PlanFileError(f"plan file {source} holds {exc}; {hint}") from exc
    except json.JSONDecodeError as exc:
        raise PlanFileError(
            f"plan file {source} is not valid JSON (corrupt or truncated?): {exc.msg} at line "
            f"{exc.lineno} column {exc.colno}; {hint}"
        ) from exc
    saved_plan.check_header(obj, source=source)
    problem = schema_files.describe_violation(saved_plan.SCHEMA_NAME, obj)
    if problem is not None:
        raise PlanFileError(f"plan file {source} is invalid at {problem}; {hint}")
    return saved_plan.saved_plan_from_json(obj, source=source)
