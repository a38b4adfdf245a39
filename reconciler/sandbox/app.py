"""The sandbox's HTTP routes: the control plane's model, profile and pricing calls plus /_sandbox/.

Translates requests into store calls and store values into grpc-gateway JSON; holds no state
of its own. Never echoes hfToken or a request apiKey.
"""

from __future__ import annotations

import json
import logging
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from reconciler.core.errors import UsageError
from reconciler.sandbox import faults as faults_module
from reconciler.sandbox.catalog import (
    GPU_PRICING,
    INACTIVE_PRICING,
    MODEL_NAME_PATTERN,
    STATUS_FAILED,
)
from reconciler.sandbox.config import SandboxConfig
from reconciler.sandbox.faults import FaultInjector
from reconciler.sandbox.gate import Gate
from reconciler.sandbox.model_json import RenderCache
from reconciler.sandbox.problems import (
    PERMISSION_DENIED,
    UNAVAILABLE,
    UNIMPLEMENTED,
    ApiProblem,
    invalid,
)
from reconciler.sandbox.records import StoredModel
from reconciler.sandbox.store import ModelStore
from reconciler.sandbox.validation import validate_deploy

log = logging.getLogger("reconciler.sandbox")


def create_app(config: SandboxConfig, store: ModelStore, injector: FaultInjector) -> Gate:
    """The ASGI application: the routes behind the auth/fault gate."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    user_id = config.user_id

    def caller(requested: Any) -> str:
        # One token, one user: any other userId is somebody else's, hence 403.
        if requested in (None, ""):
            return user_id
        if requested != user_id:
            raise ApiProblem(
                403,
                PERMISSION_DENIED,
                f"userId {requested} is not the caller's; this token belongs to user {user_id}",
            )
        return user_id

    cache = RenderCache()

    def encoded(model: StoredModel) -> bytes:
        return cache.encode(model, store.now(), api_key=store.api_key(model.model_id))

    def model_response(model: StoredModel) -> Response:
        return _raw_json(b'{"model":' + encoded(model) + b"}")

    @app.exception_handler(ApiProblem)
    async def on_problem(request: Request, exc: ApiProblem) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = 5 if exc.status_code == 404 else UNIMPLEMENTED if exc.status_code == 405 else 2
        message = f"{request.method} {request.url.path}: {exc.detail}"
        return JSONResponse(
            {"code": code, "message": message, "details": []}, status_code=exc.status_code
        )

    @app.get("/auth/profile")
    async def profile() -> JSONResponse:
        user = {"id": user_id, "email": "sandbox@tensormesh.local", "name": "Sandbox User"}
        return JSONResponse({"user": user})

    @app.post("/v1/models")
    async def deploy(request: Request) -> Response:
        body = validate_deploy(await _json_body(request))
        owner = caller(body.user_id)
        if store.find_live_by_name(owner, body.model_name) is None:
            fate = injector.on_create()
        else:
            fate = faults_module.CreateFate(lose_response=False, fail_model=False)
        model = store.create_model(owner, body, fail=fate.fail_model)  # 409 if taken
        log.info("created model %s (%s)", model.model_name, model.model_id)
        if fate.lose_response:
            # The create is committed; only the answer is lost, as behind a failing proxy.
            raise ApiProblem(502, UNAVAILABLE, "upstream connect error or reset before headers")
        return model_response(model)

    @app.get("/v1/models")
    async def list_models(request: Request) -> Response:
        owner = caller(request.query_params.get("userId"))
        models = store.list_models(owner)
        # One token, one user: the list is every model, so purged ones can leave the cache.
        cache.forget(keep={m.model_id for m in models})
        return _raw_json(b'{"models":[' + b",".join(encoded(m) for m in models) + b"]}")

    @app.get("/v1/models/{model_id}")
    async def get_model(model_id: str, request: Request) -> Response:
        owner = caller(request.query_params.get("userId"))
        return model_response(store.get_model(owner, model_id))

    @app.delete("/v1/models/{model_id}")
    async def delete_model(model_id: str, request: Request) -> JSONResponse:
        owner = caller(request.query_params.get("userId"))
        model = store.delete_model(owner, model_id)
        log.info("deleted model %s (%s)", model.model_name, model.model_id)
        return JSONResponse({})

    @app.post("/v1/models:validate")
    async def validate_name(request: Request) -> JSONResponse:
        body = await _json_body(request)
        if not isinstance(body, dict):
            raise invalid("request body must be a JSON object with modelName and userId")
        owner = caller(body.get("userId"))
        name = body.get("modelName")
        if not isinstance(name, str) or not name:
            raise invalid("modelName: required")
        free = store.find_live_by_name(owner, name) is None
        return JSONResponse({"isValid": bool(MODEL_NAME_PATTERN.match(name)) and free})

    @app.get("/v1/billing/gpu-pricing")
    async def gpu_pricing(request: Request) -> JSONResponse:
        provider = request.query_params.get("cloudProvider")
        gpu_type = request.query_params.get("gpuType")
        active_only = request.query_params.get("activeOnly") in ("true", "True", "TRUE", "1")
        rows = [
            _price_row(p, g, nanos, active=(p, g) not in INACTIVE_PRICING)
            for (p, g), nanos in sorted(GPU_PRICING.items())
            if provider in (None, "", p) and gpu_type in (None, "", g)
        ]
        if active_only:
            rows = [row for row in rows if row["isActive"]]
        return JSONResponse({"pricing": rows})

    @app.get("/v1/billing/balance")
    async def balance(request: Request) -> JSONResponse:
        caller(request.query_params.get("userId"))
        return JSONResponse({"balance": money(config.balance, "USD")})

    @app.get("/_sandbox/stats")
    async def stats() -> JSONResponse:
        return JSONResponse(
            {
                "requests": injector.requests,
                "creates": dict(store.creates),
                "createCalls": store.create_calls,
                "deletes": store.deletes,
                "faults": dict(injector.counts),
                "knobs": injector.knobs.to_json(),
            }
        )

    @app.post("/_sandbox/models/{model_id}:fail")
    async def fail_model(model_id: str) -> Response:
        return model_response(store.force_status(model_id, STATUS_FAILED))

    @app.patch("/_sandbox/models/{model_id}")
    async def patch_model(model_id: str, request: Request) -> Response:
        changes = await _json_body(request)
        if not isinstance(changes, dict):
            raise invalid("body must be a JSON object of Model fields to change")
        return model_response(store.patch_model(model_id, changes))

    @app.post("/_sandbox/faults")
    async def set_faults(request: Request) -> JSONResponse:
        changes = await _json_body(request)
        if not isinstance(changes, dict):
            raise invalid("body must be a JSON object of fault knobs")
        try:
            injector.knobs = faults_module.updated_knobs(injector.knobs, changes)
        except UsageError as exc:
            raise invalid(str(exc)) from exc
        return JSONResponse({"knobs": injector.knobs.to_json()})

    return Gate(app, token=config.token, store=store, faults=injector)


def _raw_json(content: bytes) -> Response:
    return Response(content=content, media_type="application/json")


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw) if raw else None
    except ValueError as exc:
        raise invalid(f"request body is not valid JSON: {exc}") from exc


def _price_row(provider: str, gpu_type: str, nanos_total: int, *, active: bool) -> dict[str, Any]:
    units, nanos = divmod(nanos_total, 1_000_000_000)
    rate = {"currencyCode": "USD", "units": str(units), "nanos": nanos}
    return {"gpuType": gpu_type, "cloudProvider": provider, "hourlyRate": rate, "isActive": active}


def money(amount: str, currency: str) -> dict[str, Any]:
    """A decimal amount as google.type.Money: units a string, nanos with the same sign."""
    try:
        value = Decimal(amount)
    except InvalidOperation as exc:
        raise UsageError(f"balance {amount!r} is not a decimal amount (e.g. 100.00)") from exc
    if not value.is_finite():
        raise UsageError(f"balance {amount!r} is not a decimal amount (e.g. 100.00)")
    units = int(value)
    nanos = int((value - units) * 1_000_000_000)
    return {"currencyCode": currency, "units": str(units), "nanos": nanos}
