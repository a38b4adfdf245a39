"""Lenient parsing of control-plane Model objects into LiveModel."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.adapters.live_model import parse_model
from reconciler.core.errors import ApiError
from reconciler.core.spec import normalize_spec

API_KEY = "sk-live-7f3a9c1e5b2d"  # a known value to grep for


def full_model(**overrides: Any) -> dict[str, Any]:
    model: dict[str, Any] = {
        "modelId": "m-1",
        "deploymentId": "d-1",
        "userId": "3f0c6d2e-0000-4000-8000-000000000001",
        "description": "Chat model",
        "modelPath": "meta-llama/Llama-3.1-8B-Instruct",
        "modelName": "llama-8b-chat",
        "status": "MODEL_STATUS_UP",
        "events": [{"createdAt": "2025-01-01T00:00:00Z", "log": "started", "eventType": "EVENT_X"}],
        "createdAt": "2025-01-01T00:00:00Z",
        "updatedAt": "2025-01-01T00:05:00Z",
        "modelSpec": {"maxModelLen": 8192},
        "infra": {"cloudProvider": "CLOUD_PROVIDER_NEBIUS", "nebiusRegion": "NEBIUS_REGION_EU"},
        "gpuCount": "2",
        "gpuType": "GPU_TYPE_H100",
        "replicas": "1",
        "endpoint": "https://llama.example",
        "apiKey": API_KEY,
    }
    model.update(overrides)
    return model


def test_full_model_is_parsed() -> None:
    live = parse_model(full_model())
    assert live.model_id == "m-1"
    assert live.deployment_id == "d-1"
    assert live.model_name == "llama-8b-chat"
    assert live.status == "MODEL_STATUS_UP"
    assert live.user_id == "3f0c6d2e-0000-4000-8000-000000000001"
    assert live.replicas == 1
    assert live.endpoint == "https://llama.example"
    assert live.created_at == "2025-01-01T00:00:00Z"
    assert live.events[0].log == "started"
    assert live.events[0].event_type == "EVENT_X"
    assert live.spec == {
        "description": "Chat model",
        "modelPath": "meta-llama/Llama-3.1-8B-Instruct",
        "modelSpec": {"maxModelLen": 8192},
        "infra": {"cloudProvider": "CLOUD_PROVIDER_NEBIUS", "nebiusRegion": "NEBIUS_REGION_EU"},
        "gpuCount": 2,
        "gpuType": "GPU_TYPE_H100",
    }


def test_live_spec_equals_the_normalised_manifest_spec() -> None:
    manifest_spec = {
        "modelPath": "meta-llama/Llama-3.1-8B-Instruct",
        "gpuType": "GPU_TYPE_H100",
        "gpuCount": 2,
        "infra": {"cloudProvider": "CLOUD_PROVIDER_NEBIUS", "nebiusRegion": "NEBIUS_REGION_EU"},
        "description": "Chat model",
        "modelSpec": {"maxModelLen": 8192},
    }
    assert parse_model(full_model()).spec == normalize_spec(manifest_spec)


def test_returned_api_key_is_dropped() -> None:
    live = parse_model(full_model())
    assert API_KEY not in repr(live)
    assert "apiKey" not in live.spec
    assert not hasattr(live, "api_key")


@pytest.mark.parametrize(
    ("obj", "attr", "expected"),
    [
        ({"modelId": "m"}, "status", "MODEL_STATUS_UNSPECIFIED"),
        ({"modelId": "m"}, "model_name", ""),
        ({"modelId": "m"}, "replicas", 0),
        ({"modelId": "m"}, "events", ()),
        ({"modelId": "m"}, "spec", {}),
        ({"modelId": "m"}, "deployment_id", None),
        ({"modelId": "m", "status": "MODEL_STATUS_MIGRATING"}, "status", "MODEL_STATUS_MIGRATING"),
        ({"modelId": "m", "replicas": 3}, "replicas", 3),
        ({"modelId": "m", "replicas": "many"}, "replicas", 0),
        ({"modelId": "m", "gpuType": "GPU_TYPE_X9"}, "spec", {"gpuType": "GPU_TYPE_X9"}),
        ({"modelId": "m", "gpuType": "GPU_TYPE_UNSPECIFIED"}, "spec", {}),
        ({"modelId": "m", "gpuCount": "0"}, "spec", {"gpuCount": 0}),
        ({"modelId": "m", "gpuCount": 4}, "spec", {"gpuCount": 4}),
        (
            {
                "modelId": "m",
                "infra": {
                    "cloudProvider": "CLOUD_PROVIDER_LAMBDA",
                    "lambdaRegion": "LAMBDA_REGION_UNSPECIFIED",
                    "onpremRegion": "",
                },
            },
            "spec",
            {"infra": {"cloudProvider": "CLOUD_PROVIDER_LAMBDA"}},
        ),
        ({"modelId": "m", "userId": "u", "brandNewField": 1}, "spec", {}),  # userId not in spec
        ({"modelId": "m", "userId": "u"}, "user_id", "u"),
        ({"modelId": "m", "events": ["junk", {"log": "x"}]}, "events", None),
    ],
)
def test_lenient_fields(obj: dict[str, Any], attr: str, expected: Any) -> None:
    value = getattr(parse_model(obj), attr)
    if attr == "events" and expected is None:
        assert len(value) == 1 and value[0].log == "x" and value[0].created_at == ""
    else:
        assert value == expected


def test_opaque_model_spec_is_kept_as_written() -> None:
    live = parse_model({"modelId": "m", "modelSpec": {"mode": "X_UNSPECIFIED", "n": "2"}})
    assert live.spec == {"modelSpec": {"mode": "X_UNSPECIFIED", "n": "2"}}


@pytest.mark.parametrize(
    "obj",
    [
        {},
        {"modelId": ""},
        {"modelId": 7},
        {"modelName": "llama", "apiKey": API_KEY},
    ],
)
def test_a_model_without_model_id_is_an_api_error(obj: dict[str, Any]) -> None:
    with pytest.raises(ApiError) as caught:
        parse_model(obj, call="GET /v1/models")
    assert "GET /v1/models" in str(caught.value)
    assert "modelId" in str(caught.value)
    assert API_KEY not in str(caught.value)


def test_a_non_object_is_an_api_error() -> None:
    with pytest.raises(ApiError, match="expected a Model object"):
        parse_model(["m-1"])  # type: ignore[arg-type]


def test_the_mark_is_split_off_the_description() -> None:
    from reconciler.core.ownership import Mark, add_mark

    mark = Mark("6f1c2b7e-3d4a-4c5b-8e9f-0a1b2c3d4e5f", "00ff")
    model = parse_model({"modelId": "m1", "description": add_mark("Chat", mark)})
    assert (model.spec["description"], model.mark) == ("Chat", mark)
    bare = parse_model({"modelId": "m2", "description": add_mark(None, mark)})
    assert "description" not in bare.spec and bare.mark == mark
    assert parse_model({"modelId": "m3", "description": "x"}).mark is None


class _Text(str):
    """A str subclass: parsed like the str it is, not only the exact type json builds."""


def test_any_mapping_and_str_subclass_parse_like_plain_dicts_and_strs() -> None:
    # The parser's fast path checks `type(x) is dict` / `str` first; other mappings and
    # str subclasses must still take the general path, with the same answer.
    from types import MappingProxyType

    plain = full_model(
        status="MODEL_STATUS_UP\x1b[2J",
        infra={"cloudProvider": "CLOUD_PROVIDER_UNSPECIFIED", "nebiusRegion": "NEBIUS_REGION_EU"},
        gpuType="GPU_TYPE_UNSPECIFIED",
        description="",
    )
    other = MappingProxyType(
        {
            **plain,
            "status": _Text(plain["status"]),
            "gpuType": _Text("GPU_TYPE_UNSPECIFIED"),
            "description": _Text(""),
            "infra": MappingProxyType(
                {
                    "cloudProvider": _Text("CLOUD_PROVIDER_UNSPECIFIED"),
                    "nebiusRegion": "NEBIUS_REGION_EU",
                }
            ),
            "events": [MappingProxyType(event) for event in plain["events"]],
        }
    )
    expected = parse_model(plain)
    assert expected.spec["infra"] == {"nebiusRegion": "NEBIUS_REGION_EU"}
    assert "gpuType" not in expected.spec and expected.status == "MODEL_STATUS_UP[2J"
    assert parse_model(other) == expected
