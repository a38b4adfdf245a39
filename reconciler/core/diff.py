"""Field-level differences between two specs, for people reading a plan.

Only called for entries whose digests differ: identical entries are decided by
digest, never by deep comparison. Never sees secret values. The nested detail of a
changed object is worked out only when a renderer asks for it (`field_detail`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.core.model import FieldChange


def diff_specs(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[FieldChange, ...]:
    """One FieldChange per top-level field that differs (nested detail: `field_detail`)."""
    changes = []
    for key in sorted(before.keys() | after.keys()):
        old, new = before.get(key), after.get(key)
        if old != new:
            changes.append(FieldChange(field=key, before=old, after=new))
    return tuple(changes)


def field_detail(change: FieldChange) -> tuple[str, ...]:
    """The lines a renderer shows under a field: the recorded ones, else nested differences."""
    if change.detail or change.secret:
        return change.detail
    if isinstance(change.before, Mapping) and isinstance(change.after, Mapping):
        return _nested_detail(change.field, change.before, change.after)
    return ()


def _nested_detail(prefix: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[str, ...]:
    # Imported here: only rendering a changed nested object needs deepdiff (slow to import).
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
