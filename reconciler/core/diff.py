"""Field-level differences between two specs, for people reading a plan.

Only called for entries whose digests differ: identical entries are decided by
digest, never by deep comparison. Never sees secret values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.core.model import FieldChange


def diff_specs(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[FieldChange, ...]:
    """One FieldChange per top-level field that differs, with nested detail for objects."""
    changes = []
    for key in sorted(before.keys() | after.keys()):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        detail: tuple[str, ...] = ()
        if isinstance(old, Mapping) and isinstance(new, Mapping):
            detail = _nested_detail(key, old, new)
        changes.append(FieldChange(field=key, before=old, after=new, detail=detail))
    return tuple(changes)


def _nested_detail(prefix: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[str, ...]:
    # deepdiff is only imported when a nested object really changed.
    from deepdiff import DeepDiff

    result = DeepDiff(dict(old), dict(new), verbose_level=2, view="tree")
    lines = []
    for level_items in result.values():
        for item in level_items:
            path = item.path(output_format="list")
            dotted = ".".join([prefix, *(str(part) for part in path)])
            lines.append(f"{dotted}: {_short(item.t1)} -> {_short(item.t2)}")
    return tuple(sorted(lines))


def _short(value: Any) -> str:
    from deepdiff.helper import NotPresent

    if isinstance(value, NotPresent):
        return "(absent)"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value) if not isinstance(value, bool) else str(value).lower()
