from __future__ import annotations

from reconciler.sandbox.catalog import STATUS_UP
from reconciler.sandbox.config import ApiShape
from reconciler.sandbox.model_json import render_model, rfc3339
from reconciler.sandbox.records import StoredModel

MODEL = StoredModel(
    model_id="m1",
    deployment_id="dep-1",
    user_id="0123456789ab-cdef",
    model_name="llama",
    spec={
        "modelPath": "meta/x",
        "gpuType": "GPU_TYPE_H100",
        "gpuCount": 2,
        "infra": {"cloudProvider": "CLOUD_PROVIDER_NEBIUS", "nebiusRegion": ""},
        "description": "",
        "modelSpec": {},
    },
    created_at=0.0,
    ready_at=3.0,
    outcome=STATUS_UP,
)


OMIT = ApiShape(emit_zero_values=False)


def test_by_default_zero_values_are_emitted_as_grpc_gateway_does() -> None:
    body = render_model(MODEL, 1.0, api_key="tmk-1")
    assert body["description"] == ""
    assert body["replicas"] == "0"
    assert body["gpuCount"] == "2"
    assert body["infra"] == {
        "cloudProvider": "CLOUD_PROVIDER_NEBIUS",
        "nebiusRegion": "",
        "lambdaRegion": "",
        "onpremRegion": "",
    }
    assert body["modelSpec"] == {}


def test_event_type_names_are_a_knob() -> None:
    shape = ApiShape(event_info="MODEL_EVENT_TYPE_NORMAL")
    body = render_model(MODEL, 5.0, api_key=None, shape=shape)
    assert {e["eventType"] for e in body["events"]} == {"MODEL_EVENT_TYPE_NORMAL"}


def test_int64_fields_are_strings_and_zero_values_are_omitted() -> None:
    body = render_model(MODEL, 5.0, api_key="tmk-1", shape=OMIT)
    assert body["gpuCount"] == "2"
    assert body["replicas"] == "1"
    assert "description" not in body
    assert "modelSpec" not in body
    assert body["infra"] == {"cloudProvider": "CLOUD_PROVIDER_NEBIUS"}
    assert body["endpoint"] == "https://llama.01234567.sandbox.tensormesh.local/v1"
    assert body["apiKey"] == "tmk-1"


def test_a_starting_model_has_no_replicas_field() -> None:
    body = render_model(MODEL, 1.0, api_key="tmk-1", shape=OMIT)
    assert body["status"] == "MODEL_STATUS_INIT"
    assert "replicas" not in body


def test_times_are_rfc3339_utc() -> None:
    assert rfc3339(0.0) == "1970-01-01T00:00:00.000Z"
    assert render_model(MODEL, 5.0, api_key=None)["updatedAt"] == "1970-01-01T00:00:03.000Z"
