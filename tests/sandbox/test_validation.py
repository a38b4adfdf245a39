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
        ({"infra": {"cloudProvider": "CLOUD_PROVIDER_NEBIUS", "zone": "x"}}, "infra.zone"),
        ({"kvCacheEnabled": "yes"}, "kvCacheEnabled"),
        ({"modelSpec": [1]}, "modelSpec"),
        ({"labels": {"a": "b"}}, "labels"),
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


def test_a_non_object_body_is_a_400() -> None:
    with pytest.raises(ApiProblem, match="JSON object"):
        validate_deploy([1, 2])
