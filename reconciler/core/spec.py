"""Normalised deployment specs and their digests.

A spec is normalised the way the control plane reports it: zero values
(false, "", empty objects, null) are dropped and int64 fields are ints, so that a
manifest, a recorded entry and a live model compare equal when they mean the same.
Pure; never sees secret values.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from reconciler.core.model import SECRET_FIELDS
from reconciler.core.ownership import split_mark

INT64_FIELDS = frozenset({"gpuCount"})
# Free-form payloads are kept exactly as written, apart from dropping them when empty (and
# enum-looking strings inside them are user data, not `_UNSPECIFIED` zero values).
OPAQUE_FIELDS = frozenset({"modelSpec"})


def _is_zero(value: Any) -> bool:
    if type(value) is str:  # the common case, without three comparisons
        return not value
    return value is None or value is False or value in ("", {}, [])


def _coerce_int(value: Any) -> Any:
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return value


def normalize_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The spec without secret fields and zero values, int64 strings made ints."""
    out: dict[str, Any] = {}
    for key, value in spec.items():
        if key in SECRET_FIELDS:
            continue
        # A str (most fields of a live model) is zero only when empty: tested inline, as
        # are an object's str members, since every live model of a large account passes here.
        if type(value) is str:
            if value:
                out[key] = _coerce_int(value) if key in INT64_FIELDS else value
            continue
        if _is_zero(value):
            continue
        if key in INT64_FIELDS:
            value = _coerce_int(value)
        elif (type(value) is dict or isinstance(value, Mapping)) and key not in OPAQUE_FIELDS:
            value = {k: v for k, v in value.items() if (v if type(v) is str else not _is_zero(v))}
            if not value:
                continue
        out[key] = value
    return out


def canonical_json(value: Any) -> str:
    """Byte-stable JSON: sorted keys, no spaces, UTF-8 kept."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def spec_digest(normalized: Mapping[str, Any]) -> str:
    """Digest of an already normalised spec; equal digests mean identical requests."""
    return "sha256:" + hashlib.sha256(canonical_json(normalized).encode()).hexdigest()


def fingerprint_secret(salt: str, field: str, value: str) -> str:
    """Keyed fingerprint of a secret value: shows rotation without storing the value."""
    mac = hmac.new(bytes.fromhex(salt), f"{field}\0{value}".encode(), hashlib.sha256)
    return "hmac-sha256:" + mac.hexdigest()


# The fields a Model in the API's responses carries back; only these can be
# compared with what the control plane reports (kvCacheEnabled, nodeId, ... are
# accepted by Deploy Model but never returned). userId is not among them: it is who owns
# the model (LiveModel.user_id), not how it runs. A tuple: a live spec keeps this order.
LIVE_FIELDS: tuple[str, ...] = (
    "description",
    "modelPath",
    "modelSpec",
    "infra",
    "gpuCount",
    "gpuType",
)
_LIVE_FIELD_SET = frozenset(LIVE_FIELDS)


def live_view(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a normalised spec that a live model reports back, without this state's
    mark (the `managed-by:` line a create appends to the description)."""
    view = {key: value for key, value in spec.items() if key in _LIVE_FIELD_SET}
    if isinstance(view.get("description"), str):
        description, _ = split_mark(view["description"])
        if description:
            view["description"] = description
        else:
            del view["description"]
    return view


def live_differences(expected: Mapping[str, Any], live: Mapping[str, Any]) -> tuple[str, ...]:
    """Top-level fields where a live model differs from an expected spec (both normalised)."""
    want, have = live_view(expected), live_view(live)
    return tuple(sorted(key for key in want.keys() | have.keys() if want.get(key) != have.get(key)))
