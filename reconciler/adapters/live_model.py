"""Lenient parsing of the control plane's Model objects into LiveModel values.

Drops the returned apiKey here so nothing downstream can see it; does no HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.core.errors import ApiError
from reconciler.core.model import LiveModel, ModelEvent
from reconciler.core.ownership import split_mark
from reconciler.core.spec import normalize_spec

# The Model fields a manifest also sets, i.e. those drift is measured on. userId is
# not among them: it is who owns the model (LiveModel.user_id), not how it runs.
LIVE_SPEC_FIELDS: tuple[str, ...] = (
    "description",
    "modelPath",
    "modelSpec",
    "infra",
    "gpuCount",
    "gpuType",
)
# Free-form payloads: kept as sent, enum-looking strings inside are user data.
_OPAQUE = frozenset({"modelSpec"})
STATUS_UNSPECIFIED = "MODEL_STATUS_UNSPECIFIED"


def parse_model(obj: Mapping[str, Any], *, call: str = "reading a model") -> LiveModel:
    """One Model object as LiveModel; raises ApiError (naming `call`) when it has no modelId."""
    if not isinstance(obj, Mapping):
        raise ApiError(call, detail=f"expected a Model object, got {type(obj).__name__}")
    model_id = obj.get("modelId")
    if not isinstance(model_id, str) or not model_id:
        raise ApiError(call, detail="the control plane returned a model without a modelId")
    spec = {key: _drop_unspecified(key, obj[key]) for key in LIVE_SPEC_FIELDS if key in obj}
    # The mark this state appended on create is proof of ownership, not the user's text:
    # split off here so that nothing downstream ever compares or records it.
    description, mark = split_mark(_text(spec.get("description")))
    spec["description"] = description
    return LiveModel(
        model_id=model_id,
        model_name=_text(obj.get("modelName")) or "",
        status=_text(obj.get("status")) or STATUS_UNSPECIFIED,
        spec=normalize_spec(spec),
        deployment_id=_text(obj.get("deploymentId")),
        user_id=_text(obj.get("userId")),
        endpoint=_text(obj.get("endpoint")),
        replicas=_int(obj.get("replicas")),
        events=_events(obj.get("events")),
        created_at=_text(obj.get("createdAt")),
        updated_at=_text(obj.get("updatedAt")),
        mark=mark,
    )


def _drop_unspecified(key: str, value: Any) -> Any:
    # An enum at its zero value (`X_UNSPECIFIED`) means "not set", like a missing
    # field: turn it into "" so normalize_spec drops it and it equals an absent one.
    if key in _OPAQUE:
        return value
    if isinstance(value, str) and value.endswith("_UNSPECIFIED"):
        return ""
    if isinstance(value, Mapping):
        return {k: _drop_unspecified(k, v) for k, v in value.items()}
    return value


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: Any) -> int:
    # int64 fields arrive as JSON strings from grpc-gateway; junk reads as the zero value.
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return 0


def _events(value: Any) -> tuple[ModelEvent, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(
        ModelEvent(
            created_at=_text(item.get("createdAt")) or "",
            log=_text(item.get("log")) or "",
            event_type=_text(item.get("eventType")) or "",
        )
        for item in value
        if isinstance(item, Mapping)
    )
