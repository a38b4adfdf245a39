"""Merge step: the three-way merge of two state files, behind `state merge-driver`.

Pure: git hands the driver a base and two sides; this decides, entry by entry, what the
merged state records, or which names conflict. Never guesses between two live model IDs:
that would lose one of them. Reads no file and runs no git (the caller picks the revision).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TypeVar

from reconciler.core.model import STATUS_INIT, STATUS_UP, Intent, RecordedEntry, State

_V = TypeVar("_V")


class ConflictKind(enum.Enum):
    LINEAGE = "lineage"  # two unrelated states (or different salts): nothing can be merged
    ENTRY = "entry"
    INTENT = "intent"


@dataclass(frozen=True, slots=True)
class MergeConflict:
    kind: ConflictKind
    name: str  # the entry name; the lineage for a LINEAGE conflict
    why: str


@dataclass(frozen=True, slots=True)
class MergedState:
    """The merged state, or None with at least one conflict."""

    state: State | None
    conflicts: tuple[MergeConflict, ...] = ()


def merge_states(
    base: State | None, ours: State, theirs: State, *, revision: str | None
) -> MergedState:
    """Union by entry name; each name three-way; serial past both sides.

    `base` is None when the common ancestor had no state file (both sides added it).
    `revision` is the merged state's revision (see pick_revision).
    """
    if ours.lineage != theirs.lineage or ours.salt != theirs.salt:
        why = (
            f"the two sides are different states (lineage {ours.lineage} and "
            f"{theirs.lineage}); keep one of them and import the other's models with "
            "`state import`"
        )
        if ours.lineage == theirs.lineage:
            why = "the two sides have different fingerprint salts; keep one side"
        return MergedState(None, (MergeConflict(ConflictKind.LINEAGE, ours.lineage, why),))
    if base is not None and base.lineage != ours.lineage:
        base = None  # an unrelated ancestor tells nothing about either side's changes
    base_entries = base.entries if base else {}
    base_intents = base.intents if base else {}
    conflicts: list[MergeConflict] = []
    entries = _merge_table(
        base_entries,
        ours.entries,
        theirs.entries,
        merge_one=_merge_entry,
        kind=ConflictKind.ENTRY,
        conflicts=conflicts,
    )
    intents = _merge_table(
        base_intents,
        ours.intents,
        theirs.intents,
        merge_one=_merge_intent,
        kind=ConflictKind.INTENT,
        conflicts=conflicts,
    )
    if conflicts:
        return MergedState(None, tuple(conflicts))
    merged = replace(
        ours,
        serial=max(ours.serial, theirs.serial) + 1,
        entries=entries,
        intents=intents,
        format_version=max(ours.format_version, theirs.format_version),
        revision=revision,
    )
    return MergedState(merged)


def pick_revision(
    ours: str | None, theirs: str | None, *, is_ancestor: Callable[[str, str], bool]
) -> str | None:
    """The newer of two revisions: the one that contains the other; ours when they diverged
    (in a merge both are in the result's history; in a rebase ours is the upstream's)."""
    if ours is None or theirs is None or ours == theirs:
        return ours or theirs
    if is_ancestor(ours, theirs):
        return theirs
    return ours


def _merge_table(
    base: Mapping[str, _V],
    ours: Mapping[str, _V],
    theirs: Mapping[str, _V],
    *,
    # (base, ours, theirs) of a name both sides changed -> (merged or None, conflict's reason)
    merge_one: Callable[[_V | None, _V | None, _V | None], tuple[_V | None, str | None]],
    kind: ConflictKind,
    conflicts: list[MergeConflict],
) -> dict[str, _V]:
    merged: dict[str, _V] = {}
    for name in sorted({*base, *ours, *theirs}):
        b, o, t = base.get(name), ours.get(name), theirs.get(name)
        if o == t:
            value, why = o, None
        elif o == b:
            value, why = t, None  # only theirs changed it
        elif t == b:
            value, why = o, None  # only ours changed it
        else:
            value, why = merge_one(b, o, t)
        if why is not None:
            conflicts.append(MergeConflict(kind, name, why))
        elif value is not None:
            merged[name] = value
    return merged


def _merge_entry(
    base: RecordedEntry | None, ours: RecordedEntry | None, theirs: RecordedEntry | None
) -> tuple[RecordedEntry | None, str | None]:
    """Both sides changed the entry, differently."""
    if ours is None or theirs is None:
        kept = ours or theirs
        assert kept is not None  # both None would be equal
        if base is None or kept.model_id != base.model_id:
            # One side removed the model the base recorded; the other recorded a model the
            # remover never saw (e.g. replaced it): that live model must stay recorded.
            return kept, None
        # One side removed the model; the other only refreshed that same model.
        return None, None
    if ours.model_id != theirs.model_id:
        return None, (
            f"recorded as model {ours.model_id} on one side and {theirs.model_id} on the "
            "other; check which one is live (`state show`, the Tensormesh console), keep "
            "that side and delete or import the other"
        )
    return _merge_same_model(ours, theirs)


def _merge_same_model(
    ours: RecordedEntry, theirs: RecordedEntry
) -> tuple[RecordedEntry | None, str | None]:
    """One model seen twice (e.g. created by one runner, adopted by the other): the fields
    that only describe its progress merge; a different spec or secret is a conflict."""
    if (ours.spec, ours.spec_digest, ours.secrets) != (
        theirs.spec,
        theirs.spec_digest,
        theirs.secrets,
    ):
        return None, (
            f"model {ours.model_id} is recorded with a different spec or secrets on each "
            "side; keep one side, then run plan"
        )
    status = _one_of(ours.status, theirs.status, unset=STATUS_INIT)
    deployment_id = _one_of(ours.deployment_id, theirs.deployment_id, unset=None)
    user_id = _one_of(ours.user_id, theirs.user_id, unset=None)
    if status is None or deployment_id is None or user_id is None:
        return None, (
            f"model {ours.model_id} is recorded with a different status, deployment or user "
            "on each side; keep one side, then run reconcile --once"
        )
    merged_status = status[0] or STATUS_INIT
    # A failed deploy either side saw stays remembered (the next plan replaces it) unless
    # the model is UP after all, as record_status lifts it.
    failed = None if merged_status == STATUS_UP else ours.failed or theirs.failed
    return replace(
        ours,
        status=merged_status,
        deployment_id=deployment_id[0],
        user_id=user_id[0],
        failed=failed,
    ), None


def _one_of(ours: str | None, theirs: str | None, *, unset: str | None) -> tuple[str | None] | None:
    """(the value both agree on, or the one that moved past `unset`,); None when they clash."""
    if theirs in (ours, unset):
        return (ours,)
    if ours == unset:
        return (theirs,)
    return None


def _merge_intent(
    base: Intent | None, ours: Intent | None, theirs: Intent | None
) -> tuple[Intent | None, str | None]:
    """Both sides changed an open deploy, differently."""
    del base
    if ours is None or theirs is None:
        # One side closed it, the other opened a new attempt: that attempt's outcome is
        # still unknown, so it stays open (the next apply looks the model up by name).
        return ours or theirs, None
    return None, (
        f"both sides have an open {ours.action.value} of it (attempts {ours.attempt} and "
        f"{theirs.attempt}); keep one side, then run plan: it looks the model up by name"
    )
