"""Lenient parsing of the control plane's Model objects into LiveModel values.

Drops the returned apiKey here so nothing downstream can see it; does no HTTP.
Refuses what must never be recorded or printed raw (IDs that are not plain identifiers,
numbers outside int64) and strips control characters from every text it keeps. A brief
parse reads, and so checks, only what an unmanaged model shows (docs/api-client.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from reconciler.core.errors import ApiMalformedError
from reconciler.core.model import LiveModel, ModelEvent
from reconciler.core.ownership import split_mark
from reconciler.core.spec import INT64_FIELDS, LIVE_FIELDS, OPAQUE_FIELDS, normalize_spec

STATUS_UNSPECIFIED = "MODEL_STATUS_UNSPECIFIED"
# An ID goes into URL paths, the state file and messages: a plain identifier only (no
# separator, space or control character; ".." cannot start with a letter or digit).
PLAIN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_INT64 = re.compile(r"-?[0-9]{1,19}")
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_NO_SPEC: Mapping[str, Any] = MappingProxyType({})  # a brief model's: shared, read-only


def parse_model(obj: Mapping[str, Any], *, call: str = "reading a model") -> LiveModel:
    """One Model object as LiveModel; raises ApiMalformedError (naming `call`) when it has
    no usable modelId or carries a value that must not be recorded."""
    model_id = _model_id(obj, call=call)
    deployment_id = plain_id(obj.get("deploymentId"), "deploymentId", call=call)
    for key in INT64_FIELDS:
        if key in obj:
            _check_int64(obj[key], key, call=call)
    spec: dict[str, Any] = {}
    for key in LIVE_FIELDS:
        if key in obj:
            value = obj[key]
            # A plain str outside the opaque fields: _drop_unspecified's answer, inline.
            if type(value) is str and key not in OPAQUE_FIELDS:
                spec[key] = "" if value.endswith("_UNSPECIFIED") else value
            else:
                spec[key] = _drop_unspecified(key, value)
    # The mark this state appended on create is proof of ownership, not the user's text:
    # split off here so that nothing downstream ever compares or records it.
    # Split before any cleaning: the mark is a line of its own, and the user's text is
    # compared with the manifest's as it is (renderers escape it when printing).
    raw = spec.get("description")
    description, mark = split_mark(raw if isinstance(raw, str) else None)
    spec["description"] = description
    return LiveModel(
        model_id=model_id,
        model_name=_name(obj.get("modelName")),
        status=_text(obj.get("status")) or STATUS_UNSPECIFIED,
        spec=normalize_spec(spec),
        deployment_id=deployment_id,
        user_id=_text(obj.get("userId")),
        endpoint=_text(obj.get("endpoint")),
        replicas=_int(obj.get("replicas")),
        events=_events(obj.get("events")),
        created_at=_text(obj.get("createdAt")),
        updated_at=_text(obj.get("updatedAt")),
        mark=mark,
    )


def parse_brief(obj: Mapping[str, Any], *, call: str = "reading a model") -> LiveModel:
    """A listed model as LiveModel.brief: its ID, name, status, user, endpoint and times.

    Checked as parse_model checks them (an object, a plain-identifier modelId, texts
    cleaned); its other fields are not read, so a bad value there is not refused here."""
    return LiveModel(
        _model_id(obj, call=call),
        _name(obj.get("modelName")),
        _text(obj.get("status")) or STATUS_UNSPECIFIED,
        _NO_SPEC,
        user_id=_text(obj.get("userId")),
        endpoint=_text(obj.get("endpoint")),
        created_at=_text(obj.get("createdAt")),
        updated_at=_text(obj.get("updatedAt")),
        brief=True,
    )


def _model_id(obj: Mapping[str, Any], *, call: str) -> str:
    # `type(...) is dict` first: json builds plain dicts, and the Mapping ABC check it
    # spares was a third of the time over a list of 20,000 models.
    if type(obj) is not dict and not isinstance(obj, Mapping):
        raise ApiMalformedError(call, detail=f"expected a Model object, got {type(obj).__name__}")
    model_id = plain_id(obj.get("modelId"), "modelId", call=call)
    if model_id is None:
        raise ApiMalformedError(call, detail="the control plane returned a model without a modelId")
    return model_id


def plain_id(value: Any, field: str, *, call: str) -> str | None:
    """`value` if it is a plain identifier, None if absent or empty; else malformed.

    The message never quotes the value: it may be anything, of any length."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and PLAIN_ID.fullmatch(value):
        return value
    kind = f"a {len(value)}-character string" if isinstance(value, str) else type(value).__name__
    raise ApiMalformedError(
        call,
        detail=f"malformed response: `{field}` is {kind} that is not a plain identifier "
        "(letters, digits, '.', '_', ':', '-'; at most 128)",
    )


def clean_text(value: str) -> str:
    """`value` without control characters (terminal escapes, CR/LF, bidi overrides)."""
    if value.isprintable():
        return value
    return "".join(char for char in value if char.isprintable() or char == " ")


def _check_int64(value: Any, field: str, *, call: str) -> None:
    if isinstance(value, bool) or value is None or value == "":
        return
    number: int | None = None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _INT64.fullmatch(value):
        number = int(value)
    if number is None or not INT64_MIN <= number <= INT64_MAX:
        raise ApiMalformedError(
            call, detail=f"malformed response: `{field}` is not an int64 number"
        )


def _drop_unspecified(key: str, value: Any) -> Any:
    # An enum at its zero value (`X_UNSPECIFIED`) means "not set", like a missing
    # field: turn it into "" so normalize_spec drops it and it equals an absent one.
    if key in OPAQUE_FIELDS:
        return value
    if isinstance(value, str):
        return "" if value.endswith("_UNSPECIFIED") else value
    if type(value) is dict or isinstance(value, Mapping):
        return {k: _drop_unspecified(k, v) for k, v in value.items()}
    return value


def _text(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    # The common clean text is kept as it is, without a call to clean it.
    return value if value.isprintable() else (clean_text(value) or None)


def _name(value: Any) -> str:
    # A name is matched against manifest names: an unprintable character becomes U+FFFD
    # (never a valid manifest name) rather than vanish and make it equal to another name.
    if not isinstance(value, str):
        return ""
    if value.isprintable():
        return value
    return "".join(char if char.isprintable() else "\ufffd" for char in value)


def _int(value: Any) -> int:
    # int64 fields arrive as JSON strings from grpc-gateway; junk reads as the zero value.
    if isinstance(value, bool):
        return 0
    if isinstance(value, int) and INT64_MIN <= value <= INT64_MAX:
        return value
    if isinstance(value, str) and _INT64.fullmatch(value):
        return int(value)
    return 0


def _events(value: Any) -> tuple[ModelEvent, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(
        [
            ModelEvent(
                created_at=_text(item.get("createdAt")) or "",
                log=_text(item.get("log")) or "",
                event_type=_text(item.get("eventType")) or "",
            )
            for item in value
            if type(item) is dict or isinstance(item, Mapping)
        ]
    )
