from __future__ import annotations

from dataclasses import replace

import pytest

from reconciler.sandbox import lifecycle
from reconciler.sandbox.catalog import STATUS_DELETED, STATUS_FAILED, STATUS_INIT, STATUS_UP
from reconciler.sandbox.records import StoredModel

T0 = 1000.0
BASE = StoredModel(
    model_id="m1",
    deployment_id="dep-1",
    user_id="u1",
    model_name="llama",
    spec={"gpuCount": 1},
    created_at=T0,
    ready_at=T0 + 3,
    outcome=STATUS_UP,
)


@pytest.mark.parametrize(
    ("model", "at", "status", "event_count", "replicas"),
    [
        (BASE, T0, STATUS_INIT, 1, 0),
        (BASE, T0 + 2.99, STATUS_INIT, 1, 0),
        (BASE, T0 + 3, STATUS_UP, 2, 1),
        (replace(BASE, outcome=STATUS_FAILED), T0 + 5, STATUS_FAILED, 2, 0),
        (replace(BASE, deleted_at=T0 + 10), T0 + 10, STATUS_DELETED, 3, 0),
        (replace(BASE, deleted_at=T0 + 1), T0 + 5, STATUS_DELETED, 2, 0),
        (replace(BASE, forced_status=STATUS_FAILED, forced_at=T0 + 1), T0 + 1, STATUS_FAILED, 2, 0),
        (replace(BASE, forced_status=STATUS_FAILED, forced_at=T0 + 1), T0 + 9, STATUS_FAILED, 2, 0),
        (replace(BASE, replicas=3), T0, STATUS_INIT, 1, 3),
    ],
)
def test_status_events_and_replicas_follow_the_clock(
    model: StoredModel, at: float, status: str, event_count: int, replicas: int
) -> None:
    assert lifecycle.status_at(model, at) == status
    events = lifecycle.events_at(model, at)
    assert len(events) == event_count
    assert [e.at for e in events] == sorted(e.at for e in events)
    assert lifecycle.replicas_at(model, at) == replicas


def test_failed_outcome_has_an_error_event() -> None:
    events = lifecycle.events_at(replace(BASE, outcome=STATUS_FAILED), T0 + 3)
    assert events[-1].event_type == "MODEL_EVENT_TYPE_ERROR"


def test_updated_at_is_the_latest_change() -> None:
    assert lifecycle.updated_at(BASE, T0 + 1) == T0
    assert lifecycle.updated_at(BASE, T0 + 4) == T0 + 3
    assert lifecycle.updated_at(replace(BASE, patched_at=T0 + 7), T0 + 8) == T0 + 7
