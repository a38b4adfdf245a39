"""Selection: which entries a run may touch (`--target`, `--exclude`, `--selector`).

Pure. An entry left out is neither created, replaced, deleted nor pruned; the plan only
counts it. Names match as shell globs (fnmatch); selectors match `metadata.labels`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from reconciler.core.errors import UsageError


@dataclass(frozen=True, slots=True)
class Selection:
    targets: tuple[str, ...] = ()  # globs; empty: every name
    excludes: tuple[str, ...] = ()  # globs
    labels: tuple[tuple[str, str], ...] = ()  # KEY=VALUE, all must match

    @property
    def everything(self) -> bool:
        return not (self.targets or self.excludes or self.labels)

    def selects(self, name: str, labels: Mapping[str, str] | None) -> bool:
        """`labels` None: the entry has no manifest (removed), so it has no labels to match."""
        if self.targets and not any(fnmatchcase(name, glob) for glob in self.targets):
            return False
        if any(fnmatchcase(name, glob) for glob in self.excludes):
            return False
        if self.labels:
            have = labels or {}
            return all(have.get(key) == value for key, value in self.labels)
        return True

    def selects_name(self, name: str) -> bool:
        """For live models without a manifest (unmanaged): names only; a selector needs labels."""
        return not self.labels and self.selects(name, None)


def parse_selection(
    targets: Sequence[str], excludes: Sequence[str], selectors: Sequence[str]
) -> Selection:
    labels = []
    for item in selectors:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--selector {item!r}: expected KEY=VALUE, e.g. team=search")
        labels.append((key.strip(), value.strip()))
    return Selection(tuple(targets), tuple(excludes), tuple(labels))
