"""Renders a stored model as the control plane's Model JSON at a given moment.

grpc-gateway style: int64 fields as strings, RFC 3339 UTC times, zero values emitted
(`"description": ""`, `"replicas": "0"`) as grpc-gateway v2 does by default, or omitted when
the shape says so. Pure; the apiKey is passed in and is the generated inference key, never a
request secret.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from reconciler.sandbox import lifecycle
from reconciler.sandbox.catalog import EVENT_ERROR, EVENT_INFO, STATUS_DELETED
from reconciler.sandbox.config import ApiShape
from reconciler.sandbox.records import StoredModel

_INT64_FIELDS = frozenset({"gpuCount", "replicas"})
_INFRA_FIELDS = ("cloudProvider", "nebiusRegion", "lambdaRegion", "onpremRegion")


def rfc3339(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def endpoint_of(model: StoredModel) -> str:
    return f"https://{model.model_name}.{model.user_id[:8]}.sandbox.tensormesh.local/v1"


def _drop_zero(value: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v
        for k, v in value.items()
        if v not in (None, "", 0, False, {}, []) and not (k in _INT64_FIELDS and v == "0")
    }


def render_model(
    model: StoredModel, now: float, *, api_key: str | None, shape: ApiShape | None = None
) -> dict[str, Any]:
    shape = shape or ApiShape()
    spec = model.spec
    status = lifecycle.status_at(model, now)
    infra = spec.get("infra")
    if isinstance(infra, dict):
        infra = {**dict.fromkeys(_INFRA_FIELDS, ""), **infra}
    event_names = {EVENT_INFO: shape.event_info, EVENT_ERROR: shape.event_error}
    body: dict[str, Any] = {
        "modelId": model.model_id,
        "deploymentId": model.deployment_id,
        "userId": model.user_id,
        "description": spec.get("description"),
        "modelPath": spec.get("modelPath"),
        "modelName": model.model_name,
        "status": status,
        "events": [
            {
                "createdAt": rfc3339(e.at),
                "log": e.log,
                "eventType": event_names.get(e.event_type, e.event_type),
            }
            for e in lifecycle.events_at(model, now)
        ],
        "createdAt": rfc3339(model.created_at),
        "updatedAt": rfc3339(lifecycle.updated_at(model, now)),
        "modelSpec": spec.get("modelSpec"),
        "infra": _zero_values(infra, shape) if isinstance(infra, dict) else infra,
        "gpuCount": _int64(spec.get("gpuCount")),
        "gpuType": spec.get("gpuType"),
        "replicas": _int64(lifecycle.replicas_at(model, now)),
        # A deleted deployment no longer serves: no endpoint, no key.
        "endpoint": "" if status == STATUS_DELETED else endpoint_of(model),
        "apiKey": "" if status == STATUS_DELETED else (api_key or ""),
    }
    return _zero_values(body, shape)


def _zero_values(body: dict[str, Any], shape: ApiShape) -> dict[str, Any]:
    if not shape.emit_zero_values:
        return _drop_zero(body)
    # grpc-gateway emits unset strings as "" and an unset Struct (modelSpec) as null.
    return {k: "" if v is None and k not in ("modelSpec",) else v for k, v in body.items()}


def _int64(value: Any) -> Any:
    # int64 travels as a JSON string, "0" included; a drift patch may have stored something
    # odd, keep it as is.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


class RenderCache:
    """Encoded Model JSON per model, reused until the model or its phase changes.

    Rendering dominated the server's CPU on list calls; a model's JSON changes only when the
    record is replaced (frozen, so identity tells) or a timeline point passes.
    """

    def __init__(self, shape: ApiShape | None = None) -> None:
        self._shape = shape or ApiShape()
        self._entries: dict[str, tuple[StoredModel, tuple[bool, ...], bytes]] = {}

    def encode(self, model: StoredModel, now: float, *, api_key: str | None) -> bytes:
        phase = lifecycle.phase_at(model, now)
        cached = self._entries.get(model.model_id)
        if cached is not None and cached[0] is model and cached[1] == phase:
            return cached[2]
        body = render_model(model, now, api_key=api_key, shape=self._shape)
        encoded = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        self._entries[model.model_id] = (model, phase, encoded)
        return encoded

    def forget(self, keep: set[str]) -> None:
        for model_id in set(self._entries) - keep:
            del self._entries[model_id]
