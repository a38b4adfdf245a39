"""Drift step: compare recorded entries with what the control plane reports live.

Pure: takes the live models already fetched; never calls the API and never decides
what to correct (that is core/correct.py).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from reconciler.core.model import DesiredModel, LiveModel, RecordedEntry, State
from reconciler.core.spec import live_differences


class DriftKind(enum.Enum):
    MISSING = "missing"  # recorded, but gone or deleted live
    FAILED = "failed"  # live in a failed or unknown terminal state
    CHANGED = "changed"  # live fields differ from the recorded spec
    UNMANAGED = "unmanaged"  # live under a name nobody manages; never deleted


@dataclass(frozen=True, slots=True)
class Drift:
    """One difference between the recorded state and the live world.

    `model_id` is the recorded model (None for unmanaged); `live_model_id` the one seen live.
    """

    name: str
    kind: DriftKind
    model_id: str | None = None
    fields: tuple[str, ...] = ()
    live_model_id: str | None = None
    status: str | None = None
    detail: str = ""
    # The failed model's latest deployment log lines, oldest first (filled in after
    # detection by the caller that can call the API; empty when the API has none).
    logs: tuple[str, ...] = ()


# The failed status's real name is unknown (the SDK knows only UP and DELETED), so match
# the words a failure name would carry rather than one guessed name.
_FAILURE_WORDS = ("FAIL", "ERROR", "CRASH")


def is_failed_status(status: str) -> bool:
    """FAIL/ERROR/CRASH anywhere in the status means failed; INIT and UNSPECIFIED do not.

    The one test of failure, for drift and for apply's wait alike."""
    return any(word in status for word in _FAILURE_WORDS)


def detect_drift(
    desired: Sequence[DesiredModel], state: State, live: Sequence[LiveModel]
) -> tuple[Drift, ...]:
    """Every drift, sorted by name: one per drifted recorded entry, plus unmanaged models."""
    # A DELETED model lingers in the list for a while; it counts as absent.
    present = [model for model in live if not model.is_deleted]
    by_id = {model.model_id: model for model in present}
    found = [
        drift
        for entry in state.entries.values()
        if (drift := _entry_drift(entry, by_id.get(entry.model_id))) is not None
    ]
    known = {model.name for model in desired} | state.entries.keys() | state.intents.keys()
    found.extend(
        Drift(
            model.model_name,
            DriftKind.UNMANAGED,
            live_model_id=model.model_id,
            status=model.status,
            detail="live, but no manifest and no recorded entry has this name; left alone",
        )
        for model in present
        if model.model_name not in known
    )
    return tuple(sorted(found, key=_order))


def _entry_drift(entry: RecordedEntry, live: LiveModel | None) -> Drift | None:
    if live is None:
        return Drift(
            entry.name,
            DriftKind.MISSING,
            model_id=entry.model_id,
            fields=("(missing)",),
            detail=f"recorded model {entry.model_id} is gone or deleted live",
        )
    if is_failed_status(live.status):
        return Drift(
            entry.name,
            DriftKind.FAILED,
            model_id=entry.model_id,
            fields=("(failed)",),
            live_model_id=live.model_id,
            status=live.status,
            detail=f"model {live.model_id} is {live.status}",
        )
    # live_differences only compares the fields a live Model carries back, after the
    # same normalisation on both sides: no phantom diff from int64 strings or zero values.
    fields = live_differences(entry.spec, live.spec)
    if fields:
        return Drift(
            entry.name,
            DriftKind.CHANGED,
            model_id=entry.model_id,
            fields=fields,
            live_model_id=live.model_id,
            status=live.status,
            detail=f"live {', '.join(fields)} differ from the recorded spec",
        )
    return None


def _order(drift: Drift) -> tuple[str, str, str]:
    return (drift.name, drift.kind.value, drift.live_model_id or "")
