"""Drives a running sandbox through the official `tensormesh` SDK; run by the SDK's venv.

Not a test module of ours (it runs under Python >= 3.12 with the SDK installed, not in our
venv): `python sdk_driver.py URL TOKEN USER_ID` runs every case and prints one JSON object,
`{case: {"ok": bool, "detail": str}}`. Each case checks that the SDK parses the answer into
its own types with the expected values, or that an error maps to the SDK's exception class.
Admin calls (/_sandbox/) go through `requests`, which the SDK depends on.
"""

from __future__ import annotations

import json
import sys
import traceback
import uuid
from collections.abc import Callable
from typing import Any

import requests
import tensormesh
from tensormesh import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
)
from tensormesh.types.control_plane import GpuPricing, LogEntry, Model, Money, User

URL, TOKEN, USER_ID = sys.argv[1], sys.argv[2], sys.argv[3]
NEBIUS = {"cloudProvider": "CLOUD_PROVIDER_NEBIUS"}
DEPLOY: dict[str, Any] = {
    "model_path": "meta-llama/Llama-3.1-8B-Instruct",
    "gpu_count": 1,
    "gpu_type": "GPU_TYPE_H100",
    "infra": NEBIUS,
}
CASES: dict[str, Callable[[], str]] = {}
SHARED: dict[str, Any] = {}


def client(token: str = TOKEN) -> tensormesh.Tensormesh:
    return tensormesh.Tensormesh(
        control_plane_token=token,
        control_plane_base_url=URL,
        enable_on_demand=True,
        max_retries=0,
        timeout=10,
        env={},
    )


def admin(method: str, path: str, body: Any = None) -> Any:
    answer = requests.request(
        method, URL + path, json=body, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    )
    answer.raise_for_status()
    return answer.json()


def case(function: Callable[[], str]) -> Callable[[], str]:
    CASES[function.__name__] = function
    return function


def expect(cls: type[APIStatusError], status: int, call: Callable[[], object]) -> str:
    try:
        call()
    except APIStatusError as exc:
        assert type(exc) is cls, (
            f"{type(exc).__name__} for {exc.status_code}, wanted {cls.__name__}"
        )
        assert exc.status_code == status, exc.status_code
        assert exc.request_id, "no x-request-id on the error"
        return f"{cls.__name__} {status} (request id {exc.request_id})"
    raise AssertionError(f"no error, wanted {cls.__name__}")


TM = client()


@case
def profile_parses_as_user_without_its_secret() -> str:
    user = TM.control_plane.users.get_auth_profile()
    assert isinstance(user, User)
    assert user.id == USER_ID
    assert user.user_email and user.display_name and user.first_name and user.user_role
    assert "apiKey" not in user.extra and "apiKey" not in user.to_dict()
    return f"User {user.id} {user.user_email}"


@case
def list_without_models_is_an_empty_list() -> str:
    assert TM.control_plane.models.list() == []
    return "[]"


@case
def validate_name() -> str:
    models = TM.control_plane.models
    assert models.validate_name(model_name="conformance-a").is_valid is True
    assert models.validate_name(model_name="Not A Name", user_id=USER_ID).is_valid is False
    return "isValid true/false"


@case
def deploy_parses_as_model_with_zero_values() -> str:
    model = TM.control_plane.models.deploy(model_name="conformance-a", description="", **DEPLOY)
    assert isinstance(model, Model) and model.model_id
    assert model.model_name == "conformance-a"
    assert model.status == "MODEL_STATUS_INIT"
    assert model.gpu_count == "1"  # int64 as a string; the SDK keeps it as sent
    assert model.replicas == "0" and model.description == ""
    assert model.infra is not None and model.infra.cloud_provider == NEBIUS["cloudProvider"]
    assert model.infra.nebius_region == "" and model.infra.extra == {}
    assert model.events and model.events[0].event_type
    assert model.extra == {}, model.extra
    SHARED["model"] = model
    return f"Model {model.model_id} {model.status}"


@case
def deploy_with_an_unknown_field_is_accepted() -> str:
    request = {"modelName": "conformance-extra", "futureField": {"x": 1}, "userId": USER_ID}
    request.update({"modelPath": DEPLOY["model_path"], "gpuCount": "2"})
    request.update({"gpuType": DEPLOY["gpu_type"], "infra": {**NEBIUS, "zone": "z1"}})
    model = TM.control_plane.models.deploy(request=request)
    assert model is not None and model.gpu_count == "2"
    assert model.infra is not None and "zone" not in model.infra.extra
    SHARED["extra"] = model
    return "unknown fields discarded"


@case
def get_parses_as_model() -> str:
    model_id = SHARED["model"].model_id
    model = TM.control_plane.models.get(model_id, user_id=USER_ID)
    assert isinstance(model, Model) and model.model_id == model_id
    assert model.api_key and model.endpoint
    return f"Model {model.model_id}"


@case
def list_parses_as_models() -> str:
    listed = TM.control_plane.models.list(user_id=USER_ID)
    assert all(isinstance(m, Model) for m in listed)
    assert {m.model_name for m in listed} >= {"conformance-a", "conformance-extra"}
    return f"{len(listed)} models"


@case
def check_answers_memory_floats() -> str:
    result = TM.control_plane.models.check(model_id=SHARED["model"].model_id)
    assert isinstance(result.required_gpu_memory_gib, float)
    assert isinstance(result.required_lm_cache_memory_gib, float)
    assert result.required_gpu_memory_gib > 0 and result.extra == {}
    return f"{result.required_gpu_memory_gib} GiB"


@case
def search_by_infra_parses_as_models() -> str:
    found = TM.control_plane.models.search_by_infra(infra=NEBIUS, user_id=USER_ID)
    assert {m.model_name for m in found} == {"conformance-a", "conformance-extra"}
    none = TM.control_plane.models.search_by_infra(infra={"cloudProvider": "CLOUD_PROVIDER_YOTTA"})
    assert none == []
    return f"{len(found)} models"


@case
def gpu_pricing_and_active_only() -> str:
    gpu = TM.control_plane.billing.pricing.gpu
    every = gpu.list()
    active = gpu.list(active_only=True)
    assert every and all(isinstance(row, GpuPricing) for row in every)
    assert all(isinstance(row.hourly_rate, Money) for row in every)
    assert any(row.is_active is False for row in every)
    assert active and all(row.is_active is True for row in active)
    assert len(active) < len(every)
    lam = gpu.list(cloud_provider="CLOUD_PROVIDER_LAMBDA", gpu_type="GPU_TYPE_H100")
    assert len(lam) == 1 and lam[0].hourly_rate.units == "2" and lam[0].hourly_rate.nanos
    return f"{len(every)} rows, {len(active)} active"


@case
def balance_parses_as_money() -> str:
    balance = TM.control_plane.billing.balance.get()
    assert isinstance(balance, Money)
    assert (balance.currency_code, balance.units, balance.nanos) == ("USD", "100", 0)
    return f"{balance.units}.{balance.nanos:09d} {balance.currency_code}"


@case
def deployment_logs_parse_as_log_entries() -> str:
    logs = TM.control_plane.observability.deployments.logs
    deployment_id = SHARED["model"].deployment_id
    entries = logs.list(deployment_id, user_id=USER_ID, limit=10)
    assert entries and all(isinstance(e, LogEntry) and e.timestamp and e.message for e in entries)
    newest = logs.list(deployment_id, direction="LOG_DIRECTION_BACKWARD", limit=1)
    assert len(newest) == 1 and newest[0].timestamp >= entries[0].timestamp
    return f"{len(entries)} log entries"


@case
def delete_then_get_shows_deleted() -> str:
    models = TM.control_plane.models
    model_id = SHARED["extra"].model_id
    assert models.delete(model_id).to_dict() == {}
    gone = models.get(model_id)
    assert gone is not None and gone.status == "MODEL_STATUS_DELETED"
    assert gone.api_key == "" and gone.endpoint == ""
    return "deleted"


@case
def error_400_is_bad_request() -> str:
    bad = {**DEPLOY, "gpu_type": "GPU_TYPE_K80"}
    return expect(
        BadRequestError, 400, lambda: TM.control_plane.models.deploy(model_name="bad", **bad)
    )


@case
def error_400_for_an_int64_out_of_range() -> str:
    request = {"modelName": "huge", "modelPath": "x/y", "gpuType": "GPU_TYPE_H100"}
    request.update({"gpuCount": str(2**63), "infra": NEBIUS})
    return expect(BadRequestError, 400, lambda: TM.control_plane.models.deploy(request=request))


@case
def error_401_is_authentication() -> str:
    return expect(AuthenticationError, 401, client("wrong").control_plane.models.list)


@case
def error_403_is_permission_denied() -> str:
    other = str(uuid.uuid4())
    return expect(PermissionDeniedError, 403, lambda: TM.control_plane.models.list(user_id=other))


@case
def error_404_is_not_found() -> str:
    missing = str(uuid.uuid4())
    return expect(NotFoundError, 404, lambda: TM.control_plane.models.get(missing))


@case
def error_404_on_check_and_logs() -> str:
    missing = str(uuid.uuid4())
    expect(NotFoundError, 404, lambda: TM.control_plane.models.check(model_id=missing))
    logs = TM.control_plane.observability.deployments.logs
    return expect(NotFoundError, 404, lambda: logs.list("dep-missing"))


@case
def error_409_is_conflict() -> str:
    return expect(
        ConflictError,
        409,
        lambda: TM.control_plane.models.deploy(model_name="conformance-a", **DEPLOY),
    )


@case
def error_429_is_rate_limit() -> str:
    admin("POST", "/_sandbox/faults", {"rateLimitEvery": 1})
    try:
        return expect(RateLimitError, 429, TM.control_plane.models.list)
    finally:
        admin("POST", "/_sandbox/faults", {"rateLimitEvery": 0})


@case
def error_503_is_internal_server() -> str:
    admin("POST", "/_sandbox/faults", {"errorRate": 1})
    try:
        return expect(InternalServerError, 503, TM.control_plane.models.list)
    finally:
        admin("POST", "/_sandbox/faults", {"errorRate": 0})


@case
def error_502_lost_create_is_internal_server_and_committed() -> str:
    admin("POST", "/_sandbox/faults", {"loseCreateRate": 1})
    try:
        deploy = lambda: TM.control_plane.models.deploy(model_name="conformance-lost", **DEPLOY)  # noqa: E731
        detail = expect(InternalServerError, 502, deploy)
    finally:
        admin("POST", "/_sandbox/faults", {"loseCreateRate": 0})
    assert "conformance-lost" in {m.model_name for m in TM.control_plane.models.list()}
    return detail


@case
def error_501_for_a_route_the_sandbox_lacks() -> str:
    detail = expect(InternalServerError, 501, TM.control_plane.products.list)
    wrong_method = lambda: TM.control_plane.request("PUT", "/v1/models")  # noqa: E731
    expect(InternalServerError, 501, wrong_method)
    return detail


@case
def billing_refusal_402_is_a_status_error() -> str:
    admin("POST", "/_sandbox/faults", {"refuseCreatesStatus": 402})
    try:
        deploy = lambda: TM.control_plane.models.deploy(model_name="conformance-poor", **DEPLOY)  # noqa: E731
        detail = expect(APIStatusError, 402, deploy)
        admin("POST", "/_sandbox/faults", {"refuseCreatesStatus": 429})
        expect(RateLimitError, 429, deploy)
    finally:
        admin("POST", "/_sandbox/faults", {"refuseCreatesStatus": 0})
    assert "conformance-poor" not in {m.model_name for m in TM.control_plane.models.list()}
    return detail


@case
def a_rotated_token_is_accepted_and_the_old_one_refused() -> str:
    # Last: it retires the start token for the API.
    issued = admin("POST", "/_sandbox/tokens", {"revokeOthers": True})
    fresh = client(issued["access_token"])
    assert {m.model_name for m in fresh.control_plane.models.list()} >= {"conformance-a"}
    return expect(AuthenticationError, 401, TM.control_plane.models.list)


def main() -> None:
    results: dict[str, dict[str, Any]] = {}
    for name, function in CASES.items():
        try:
            results[name] = {"ok": True, "detail": function()}
        except Exception as exc:  # report every case, never stop at the first
            detail = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"
            results[name] = {"ok": False, "detail": detail}
    print(json.dumps(results))


if __name__ == "__main__":
    main()
