"""A listed model read brief (live_model.parse_brief): what it reads, and so checks.

It reads what an unmanaged model shows (ID, name, status, user, endpoint, times), checked
and cleaned as the full parse does; the rest is not read, so junk there is not refused.
"""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.adapters.live_model import parse_brief, parse_model
from reconciler.core.errors import ApiError
from tests.adapters.test_live_model import full_model

SHOWN = ("model_id", "model_name", "status", "user_id", "endpoint", "created_at", "updated_at")


def test_a_brief_model_has_the_shown_fields_of_the_full_parse_and_nothing_else() -> None:
    obj = full_model(description="Chat\nmanaged-by: tensormesh-reconciler lineage-1/nonce1")
    brief, full = parse_brief(obj), parse_model(obj)
    assert brief.brief and not full.brief and full.mark is not None
    assert [getattr(brief, f) for f in SHOWN] == [getattr(full, f) for f in SHOWN]
    assert brief.spec == {} and brief.events == () and brief.replicas == 0
    assert brief.deployment_id is None and brief.mark is None


def test_a_brief_model_cleans_what_it_shows() -> None:
    brief = parse_brief(full_model(modelName="a\x1bb", status="UP\x1b]0;x\x07", endpoint="e\r\n"))
    assert brief.model_name == "a\ufffdb"  # never equal to a manifest name by stripping
    assert brief.status == "UP]0;x"
    assert brief.endpoint == "e"


@pytest.mark.parametrize(
    "obj",
    [
        full_model(modelId="../../v1/models"),
        full_model(modelId="id\nX-Injected: 1"),
        full_model(modelId=5),
        full_model(modelId=""),
        {"modelName": "x"},
        ["not", "an", "object"],
    ],
    ids=["traversal", "header-injection", "number", "empty", "missing", "list"],
)
def test_a_brief_model_refuses_a_model_id_it_would_show(obj: Any) -> None:
    with pytest.raises(ApiError):
        parse_brief(obj)


@pytest.mark.parametrize(
    "junk",
    [
        {"gpuCount": "99999999999999999999"},
        {"gpuCount": "²"},
        {"deploymentId": "../evil"},
        {"events": "not a list", "replicas": {"a": 1}},
        {"modelSpec": {"a": [[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]}},
    ],
    ids=["over-int64", "superscript-digit", "hostile-deployment", "junk-events", "nested"],
)
def test_a_brief_model_does_not_read_so_does_not_refuse_the_rest(junk: dict[str, Any]) -> None:
    obj = full_model(**junk)
    assert parse_brief(obj).model_id == "m-1"
    if "gpuCount" in junk or "deploymentId" in junk:
        with pytest.raises(ApiError):
            parse_model(obj)  # the same model read in full is refused
