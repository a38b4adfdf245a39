"""A Model with every zero value emitted (grpc-gateway v2's default) reads like one without.

Drift compares the parsed spec with the recorded one: `"description": ""`, `"replicas": "0"`,
`"lambdaRegion": ""`, `"modelSpec": null`, `"endpoint": ""` must not be differences.
"""

from __future__ import annotations

from typing import Any

from reconciler.adapters.live_model import parse_model
from reconciler.core.spec import live_differences, normalize_spec

SPARSE: dict[str, Any] = {
    "modelId": "m-1",
    "deploymentId": "dep-1",
    "modelName": "llama",
    "status": "MODEL_STATUS_INIT",
    "modelPath": "meta-llama/Llama-3.1-8B-Instruct",
    "infra": {"cloudProvider": "CLOUD_PROVIDER_NEBIUS"},
    "gpuCount": "1",
    "gpuType": "GPU_TYPE_H100",
}
EMITTED: dict[str, Any] = {
    **SPARSE,
    "userId": "",
    "description": "",
    "events": [],
    "modelSpec": None,
    "infra": {
        "cloudProvider": "CLOUD_PROVIDER_NEBIUS",
        "nebiusRegion": "",
        "lambdaRegion": "",
        "onpremRegion": "",
    },
    "replicas": "0",
    "endpoint": "",
    "apiKey": "",
    "createdAt": "",
    "updatedAt": "",
}


def test_emitted_zero_values_parse_like_omitted_ones() -> None:
    sparse, emitted = parse_model(SPARSE), parse_model(EMITTED)
    assert emitted.spec == sparse.spec
    assert (emitted.replicas, emitted.endpoint, emitted.user_id) == (0, None, None)


def test_emitted_zero_values_are_no_drift_from_the_recorded_spec() -> None:
    recorded = normalize_spec(
        {
            "modelPath": "meta-llama/Llama-3.1-8B-Instruct",
            "infra": {"cloudProvider": "CLOUD_PROVIDER_NEBIUS"},
            "gpuCount": 1,
            "gpuType": "GPU_TYPE_H100",
            "kvCacheEnabled": False,
        }
    )
    assert live_differences(recorded, parse_model(EMITTED).spec) == ()
    changed = {**EMITTED, "description": "by hand"}
    assert live_differences(recorded, parse_model(changed).spec) == ("description",)
