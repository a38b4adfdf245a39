"""normalize_spec's inline str tests (its fast path for live models) give the answer of
the plain definition: zero values (None, False, "", {}, []) dropped, int64 strings made
ints, object members that are zero dropped, opaque fields kept as written."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from reconciler.core.model import SECRET_FIELDS
from reconciler.core.spec import INT64_FIELDS, OPAQUE_FIELDS, normalize_spec


def _zero(value: Any) -> bool:
    return value is None or value is False or value in ("", {}, [])


def reference(spec: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in spec.items():
        if key in SECRET_FIELDS or _zero(value):
            continue
        if key in INT64_FIELDS:
            if isinstance(value, str) and value.lstrip("-").isdigit():
                value = int(value)
        elif isinstance(value, Mapping) and key not in OPAQUE_FIELDS:
            value = {k: v for k, v in value.items() if not _zero(v)}
            if not value:
                continue
        out[key] = value
    return out


class _Text(str):
    pass


@pytest.mark.parametrize(
    "spec",
    [
        {"gpuCount": "2", "gpuType": "GPU_TYPE_A100", "description": "", "modelPath": "m"},
        {"gpuCount": "", "infra": {"a": "", "b": "x", "c": 0, "d": False, "e": None, "f": []}},
        {"gpuCount": "-3", "infra": {"a": "", "b": _Text("")}, "description": _Text("")},
        {"gpuCount": 0, "modelSpec": {"x": "", "y": {}}, "infra": {}, "gpuType": False},
        {"gpuCount": "x1", "hfToken": "secret", "infra": {"n": 1.5, "z": 0.0, "t": True}},
        {"description": None, "modelPath": [], "modelSpec": {}, "infra": {"k": {"deep": ""}}},
    ],
)
def test_fast_path_gives_the_plain_definition(spec: dict[str, Any]) -> None:
    assert normalize_spec(spec) == reference(spec)
