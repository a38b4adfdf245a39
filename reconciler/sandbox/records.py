"""What the sandbox remembers of one deployed model: the request (minus secrets) and its timeline.

A plain value: status and events are derived from it by `lifecycle` at a given time,
so nothing here changes with the clock. Never holds hfToken or apiKey values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class StoredModel:
    """One model. Times are POSIX seconds; `spec` is the accepted request without
    modelName, userId and secrets (gpuCount an int)."""

    model_id: str
    deployment_id: str
    user_id: str
    model_name: str
    spec: Mapping[str, Any]
    created_at: float
    ready_at: float
    outcome: str  # the status reached at ready_at: MODEL_STATUS_UP or MODEL_STATUS_FAILED
    deleted_at: float | None = None
    forced_status: str | None = None  # set out of band by /_sandbox/ (e.g. forced failure)
    forced_at: float | None = None
    replicas: int | None = None  # an out-of-band override; else derived from status
    patched_at: float | None = None
    extra_events: tuple[tuple[float, str, str], ...] = field(default=())  # (at, log, eventType)

    def to_json(self) -> dict[str, Any]:
        return {
            "modelId": self.model_id,
            "deploymentId": self.deployment_id,
            "userId": self.user_id,
            "modelName": self.model_name,
            "spec": dict(self.spec),
            "createdAt": self.created_at,
            "readyAt": self.ready_at,
            "outcome": self.outcome,
            "deletedAt": self.deleted_at,
            "forcedStatus": self.forced_status,
            "forcedAt": self.forced_at,
            "replicas": self.replicas,
            "patchedAt": self.patched_at,
            "extraEvents": [list(event) for event in self.extra_events],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StoredModel:
        return cls(
            model_id=str(data["modelId"]),
            deployment_id=str(data["deploymentId"]),
            user_id=str(data["userId"]),
            model_name=str(data["modelName"]),
            spec=dict(data["spec"]),
            created_at=float(data["createdAt"]),
            ready_at=float(data["readyAt"]),
            outcome=str(data["outcome"]),
            deleted_at=_opt_float(data.get("deletedAt")),
            forced_status=data.get("forcedStatus"),
            forced_at=_opt_float(data.get("forcedAt")),
            replicas=data.get("replicas"),
            patched_at=_opt_float(data.get("patchedAt")),
            extra_events=tuple(
                (float(at), str(log), str(kind)) for at, log, kind in data.get("extraEvents", [])
            ),
        )


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)
