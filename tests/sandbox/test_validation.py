from __future__ import annotations

from typing import Any

import pytest

from reconciler.sandbox.problems import ApiProblem
from reconciler.sandbox.validation import validate_deploy

GOOD: dict[str, Any] = {
    "modelName": "llama-8b",
    "userId": "u1",
    "modelPath": "meta-llama/Llama-3.1-8B-Instruct",
    "gpuType": "GPU_TYPE_H100",
    "gpuCount": 1,
    "infra": {"cloudProvider": "CLOUD_PROVIDER_NEBIUS"},
    "hfToken": "hf_secret",
    "apiKey": "key_secret",
}


def test_a_good_request_is_accepted_and_loses_its_secrets() -> None:
    body = validate_deploy({**GOOD, "gpuCount": "3"})
    assert body.model_name == "llama-8b"
    assert body.user_id == "u1"
    assert body.spec["gpuCount"] == 3
    assert "hfToken" not in body.spec
    assert "apiKey" not in body.spec
    assert "modelName" not in body.spec


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"modelName": None}, "modelName"),
        ({"modelName": "Bad_Name"}, "modelName"),
        ({"modelName": "-x"}, "modelName"),
        ({"modelName": "a" * 64}, "modelName"),
        ({"modelPath": None}, "modelPath"),
        ({"gpuType": "GPU_TYPE_K80"}, "gpuType"),
        ({"gpuType": None}, "gpuType"),
        ({"gpuCount": 0}, "gpuCount"),
        ({"gpuCount": "two"}, "gpuCount"),
        ({"gpuCount": 1.5}, "gpuCount"),
        ({"gpuCount": True}, "gpuCount"),
        ({"gpuCount": None}, "gpuCount"),
        ({"infra": None}, "infra"),
        ({"infra": {}}, "infra.cloudProvider"),
        ({"infra": {"cloudProvider": "CLOUD_PROVIDER_MARS"}}, "infra.cloudProvider"),
        ({"kvCacheEnabled": "yes"}, "kvCacheEnabled"),
        ({"modelSpec": [1]}, "modelSpec"),
        ({"gpuCount": 2**63}, "gpuCount"),
        ({"gpuCount": str(2**64)}, "gpuCount"),
        ({"gpuCount": -(2**63) - 1}, "gpuCount"),
    ],
)
def test_an_invalid_request_is_a_400_naming_the_field(change: dict[str, Any], field: str) -> None:
    body = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    with pytest.raises(ApiProblem) as caught:
        validate_deploy(body)
    assert caught.value.status == 400
    assert caught.value.code == 3
    assert field in caught.value.message
    assert "secret" not in caught.value.message


UNKNOWN_FIELDS = [
    ({"infra": {"cloudProvider": "CLOUD_PROVIDER_NEBIUS", "zone": "x"}}, "infra.zone"),
    ({"labels": {"a": "b"}}, "labels"),
]


@pytest.mark.parametrize(("change", "field"), UNKNOWN_FIELDS)
def test_strict_requests_answer_an_unknown_field_with_400(
    change: dict[str, Any], field: str
) -> None:
    with pytest.raises(ApiProblem) as caught:
        validate_deploy({**GOOD, **change}, strict=True)
    assert (caught.value.status, caught.value.code) == (400, 3)
    assert field in caught.value.message


@pytest.mark.parametrize(("change", "field"), UNKNOWN_FIELDS)
def test_by_default_unknown_fields_are_discarded_as_grpc_gateway_does(
    change: dict[str, Any], field: str
) -> None:
    accepted = validate_deploy({**GOOD, **change})
    assert "labels" not in accepted.spec
    assert accepted.spec["infra"] == {"cloudProvider": "CLOUD_PROVIDER_NEBIUS"}


def test_int64_bounds_are_accepted() -> None:
    assert validate_deploy({**GOOD, "gpuCount": str(2**63 - 1)}).spec["gpuCount"] == 2**63 - 1


def test_the_accepted_cloud_providers_are_a_knob() -> None:
    onprem = {**GOOD, "infra": {"cloudProvider": "CLOUD_PROVIDER_ONPREM"}}
    assert validate_deploy(onprem).spec["infra"]["cloudProvider"] == "CLOUD_PROVIDER_ONPREM"
    with pytest.raises(ApiProblem, match=r"infra\.cloudProvider"):
        validate_deploy(onprem, cloud_providers=("CLOUD_PROVIDER_NEBIUS",))


def test_a_non_object_body_is_a_400() -> None:
    with pytest.raises(ApiProblem, match="JSON object"):
        validate_deploy([1, 2])
