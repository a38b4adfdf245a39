"""Checks a Deploy Model request body the way the control plane would, naming the bad field.

Pure. Returns the accepted request without secrets: hfToken and apiKey are type-checked and
dropped here, so no later step can store or echo them. Unknown fields are discarded, as
grpc-gateway does, unless `strict` (then 400 naming the field).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.sandbox.catalog import CLOUD_PROVIDERS, GPU_TYPES, MODEL_NAME_PATTERN
from reconciler.sandbox.problems import invalid

_STRING_FIELDS = ("description", "modelPath", "gpuType", "nodeId", "apiKey", "hfToken")
_BOOL_FIELDS = ("kvCacheEnabled", "cpuOffloadingEnabled")
_KNOWN_FIELDS = frozenset(
    {"modelName", "userId", "infra", "gpuCount", "modelSpec", *_STRING_FIELDS, *_BOOL_FIELDS}
)
_INFRA_FIELDS = frozenset({"cloudProvider", "nebiusRegion", "lambdaRegion", "onpremRegion"})
_SECRETS = ("apiKey", "hfToken")
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True, slots=True)
class DeployBody:
    model_name: str
    user_id: str | None
    spec: Mapping[str, Any]


def validate_deploy(
    body: Any, *, strict: bool = False, cloud_providers: tuple[str, ...] = CLOUD_PROVIDERS
) -> DeployBody:
    if not isinstance(body, dict):
        raise invalid("request body must be a JSON object (a DeployModelRequest)")
    unknown = sorted(set(body) - _KNOWN_FIELDS)
    if unknown and strict:
        raise invalid(f"unknown field {unknown[0]!r} in DeployModelRequest")
    body = {key: value for key, value in body.items() if key in _KNOWN_FIELDS}
    for name in (*_STRING_FIELDS, "modelName", "userId"):
        if name in body and not isinstance(body[name], str):
            raise invalid(f"{name}: must be a string")
    for name in _BOOL_FIELDS:
        if name in body and not isinstance(body[name], bool):
            raise invalid(f"{name}: must be a boolean")
    model_name = body.get("modelName", "")
    if not model_name:
        raise invalid("modelName: required")
    if not MODEL_NAME_PATTERN.match(model_name):
        raise invalid(
            f"modelName: {model_name!r} is invalid; use 1-63 lowercase letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    if not body.get("modelPath"):
        raise invalid("modelPath: required (a Hugging Face model id)")
    if body.get("gpuType") not in GPU_TYPES:
        raise invalid(f"gpuType: must be one of {', '.join(GPU_TYPES)}")
    gpu_count = _parse_int64(body.get("gpuCount"))
    if gpu_count is not None and not INT64_MIN <= gpu_count <= INT64_MAX:
        raise invalid(f"gpuCount: {gpu_count} is out of the int64 range")
    if gpu_count is None or gpu_count < 1:
        raise invalid("gpuCount: must be an integer >= 1")
    infra = _check_infra(body.get("infra"), strict=strict, cloud_providers=cloud_providers)
    model_spec = body.get("modelSpec")
    if model_spec is not None and not isinstance(model_spec, dict):
        raise invalid("modelSpec: must be a JSON object")
    spec = {
        key: value
        for key, value in body.items()
        if key not in _SECRETS and key not in ("modelName", "userId")
    }
    spec["gpuCount"] = gpu_count
    spec["infra"] = infra
    return DeployBody(model_name=model_name, user_id=body.get("userId") or None, spec=spec)


def _parse_int64(value: Any) -> int | None:
    # grpc-gateway accepts int64 as a JSON number or a decimal string.
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return None


def _check_infra(infra: Any, *, strict: bool, cloud_providers: tuple[str, ...]) -> dict[str, str]:
    if not isinstance(infra, dict):
        raise invalid("infra: required (an object with cloudProvider)")
    unknown = sorted(set(infra) - _INFRA_FIELDS)
    if unknown and strict:
        raise invalid(f"infra.{unknown[0]}: unknown field")
    infra = {key: value for key, value in infra.items() if key in _INFRA_FIELDS}
    for name, value in infra.items():
        if not isinstance(value, str):
            raise invalid(f"infra.{name}: must be a string")
    provider = infra.get("cloudProvider")
    if not provider:
        raise invalid("infra.cloudProvider: required")
    if provider not in cloud_providers:
        raise invalid(f"infra.cloudProvider: must be one of {', '.join(cloud_providers)}")
    return dict(infra)
