"""A model's status, events and updatedAt at a given moment, computed from its timeline.

Pure: the caller passes `now`, so tests move a fake clock instead of sleeping.
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.sandbox.catalog import (
    EVENT_ERROR,
    EVENT_INFO,
    STATUS_DELETED,
    STATUS_INIT,
    STATUS_UP,
)
from reconciler.sandbox.records import StoredModel


@dataclass(frozen=True, slots=True)
class Event:
    at: float
    log: str
    event_type: str


def status_at(model: StoredModel, now: float) -> str:
    if model.deleted_at is not None and now >= model.deleted_at:
        return STATUS_DELETED
    if model.forced_status is not None:
        return model.forced_status
    return model.outcome if now >= model.ready_at else STATUS_INIT


def events_at(model: StoredModel, now: float) -> list[Event]:
    """Every event that has happened by `now`, oldest first."""
    events = [Event(model.created_at, f"Deployment {model.deployment_id} created", EVENT_INFO)]
    # A forced status or a delete before readiness pre-empts the natural outcome.
    cut_offs = [t for t in (model.forced_at, model.deleted_at) if t is not None]
    if model.ready_at <= now and all(model.ready_at < t for t in cut_offs):
        # Any outcome but UP is a failure, whatever name --failed-status gave it.
        if model.outcome != STATUS_UP:
            events.append(
                Event(model.ready_at, "Model failed to start: CUDA out of memory", EVENT_ERROR)
            )
        else:
            events.append(Event(model.ready_at, "Model is up and serving", EVENT_INFO))
    if model.forced_at is not None and model.forced_status is not None and model.forced_at <= now:
        healthy = model.forced_status in (STATUS_UP, STATUS_INIT)
        kind = EVENT_INFO if healthy else EVENT_ERROR
        events.append(Event(model.forced_at, f"Status changed to {model.forced_status}", kind))
    events.extend(Event(at, log, kind) for at, log, kind in model.extra_events if at <= now)
    if model.deleted_at is not None and model.deleted_at <= now:
        events.append(Event(model.deleted_at, "Deployment deleted", EVENT_INFO))
    events.sort(key=lambda event: event.at)
    return events


def updated_at(model: StoredModel, now: float) -> float:
    latest = max(event.at for event in events_at(model, now))
    if model.patched_at is not None and model.patched_at <= now:
        latest = max(latest, model.patched_at)
    return latest


def replicas_at(model: StoredModel, now: float) -> int:
    if model.replicas is not None:
        return model.replicas
    return 1 if status_at(model, now) == STATUS_UP else 0


def phase_at(model: StoredModel, now: float) -> tuple[bool, ...]:
    """Which timeline points have passed: the rendered model can change only when this does."""
    points = (model.ready_at, model.deleted_at, model.forced_at, model.patched_at)
    extra = tuple(at <= now for at, _, _ in model.extra_events)
    return (*(at is not None and at <= now for at in points), *extra)
