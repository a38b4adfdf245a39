"""Drift step: compare recorded entries with what the control plane reports live.

Pure: takes the live models already fetched; never calls the API and never decides
what to correct (that is core/correct.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.core.model import (
    DesiredModel,
    DriftKind,
    KnownModels,
    LiveModel,
    RecordedEntry,
    State,
)
from reconciler.core.spec import live_differences, live_view


@dataclass(frozen=True, slots=True)
class FieldDrift:
    """One live field that differs: its live value and the recorded (wanted) one.
    None means absent on that side. Never a secret: the API does not return them."""

    field: str
    live: Any = None
    wanted: Any = None


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
    values: tuple[FieldDrift, ...] = ()  # for `changed`: each field's live and wanted value
    # The failed model's latest deployment log lines, oldest first (filled in after
    # detection by the caller that can call the API; empty when the API has none).
    logs: tuple[str, ...] = ()


# The failed status's real name is unknown (the SDK knows only UP and DELETED), so match
# the words a failure name would carry rather than one guessed name.
_FAILURE_WORDS = ("FAIL", "ERROR", "CRASH")
_UNMANAGED_DETAIL = "live, but no manifest and no recorded entry has this name; left alone"


def is_failed_status(status: str) -> bool:
    """FAIL/ERROR/CRASH anywhere in the status means failed; INIT and UNSPECIFIED do not.

    The one test of failure, for drift and for apply's wait alike."""
    return any(word in status for word in _FAILURE_WORDS)


def detect_drift(
    desired: Sequence[DesiredModel], state: State, live: Sequence[LiveModel]
) -> tuple[Drift, ...]:
    """Every drift, sorted by name: one per drifted recorded entry, plus unmanaged models."""
    known = known_models(desired, state)
    names, recorded = known.names, known.model_ids
    # One loop over the live list (20,000 models in a large account): the recorded models
    # by ID, and an unmanaged drift for each model nobody manages. A DELETED model lingers
    # in the list for a while; it counts as absent.
    by_id: dict[str, LiveModel] = {}
    unmanaged: list[Drift] = []
    for model in live:
        if model.is_deleted:
            continue
        if model.model_id in recorded:
            by_id[model.model_id] = model
        if model.model_name not in names:
            unmanaged.append(
                Drift(
                    model.model_name,
                    DriftKind.UNMANAGED,
                    live_model_id=model.model_id,
                    status=model.status,
                    detail=_UNMANAGED_DETAIL,
                )
            )
    found = [
        drift
        for entry in state.entries.values()
        if (drift := _entry_drift(entry, by_id.get(entry.model_id))) is not None
    ]
    found.extend(unmanaged)
    found.sort(key=_order)
    return tuple(found)


def known_models(desired: Sequence[DesiredModel], state: State) -> KnownModels:
    """What a pass manages or may manage: recorded model IDs; names in the manifests, the
    entries and the open intents. Every other live model is unmanaged."""
    names = {model.name for model in desired} | state.entries.keys() | state.intents.keys()
    return KnownModels(
        frozenset(entry.model_id for entry in state.entries.values()), frozenset(names)
    )


def live_statuses(state: State, live: Sequence[LiveModel]) -> dict[str, str]:
    """Recorded entries whose live model reports another status than the recorded one
    (a model recorded INIT that is UP by now): what a pass writes back to the state."""
    recorded = {entry.model_id for entry in state.entries.values()}
    by_id = {m.model_id: m for m in live if m.model_id in recorded and not m.is_deleted}
    return {
        name: model.status
        for name, entry in sorted(state.entries.items())
        if (model := by_id.get(entry.model_id)) is not None
        and model.status
        and model.status != entry.status
    }


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
    # live_differences only compares the live fields (those a Model carries back), after the
    # same normalisation on both sides: no phantom diff from int64 strings or zero values.
    fields = live_differences(entry.spec, live.spec)
    if fields:
        wanted, have = live_view(entry.spec), live_view(live.spec)
        values = tuple(FieldDrift(f, have.get(f), wanted.get(f)) for f in fields)
        return Drift(
            entry.name,
            DriftKind.CHANGED,
            model_id=entry.model_id,
            fields=fields,
            live_model_id=live.model_id,
            status=live.status,
            detail="live "
            + "; ".join(f"{v.field} {_show(v.live)} (wanted {_show(v.wanted)})" for v in values),
            values=values,
        )
    return None


def _show(value: Any) -> str:
    import json

    return "(absent)" if value is None else json.dumps(value, sort_keys=True)


def _order(drift: Drift) -> tuple[str, str, str]:
    return (drift.name, drift.kind.value, drift.live_model_id or "")
