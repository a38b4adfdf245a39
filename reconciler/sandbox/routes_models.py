"""The model routes: deploy, list, get, delete, validate, check and search-by-infra.

`:verb` and `/check` routes are registered before `/v1/models/{model_id}` so that the path
parameter never swallows them. Never echoes hfToken or a request apiKey.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from reconciler.sandbox import faults as faults_module
from reconciler.sandbox.catalog import MODEL_NAME_PATTERN
from reconciler.sandbox.context import Context, json_body, json_object
from reconciler.sandbox.problems import FAILED_PRECONDITION, UNAVAILABLE, ApiProblem, invalid
from reconciler.sandbox.records import StoredModel
from reconciler.sandbox.validation import validate_deploy

log = logging.getLogger("reconciler.sandbox")

# "Llama-3.1-8B-Instruct" -> 8 (billions of parameters), for the memory estimate of /check.
_PARAMS = re.compile(r"(\d+(?:\.\d+)?)[bB](?![a-zA-Z])")
_DEFAULT_GPU_MEMORY_GIB = 16.0


def register(app: FastAPI, ctx: Context) -> None:
    store = ctx.store

    @app.post("/v1/models")
    async def deploy(request: Request) -> Response:
        shape = ctx.shape
        body = validate_deploy(
            await json_body(request),
            strict=shape.strict_requests,
            cloud_providers=shape.cloud_providers,
        )
        owner = ctx.caller(body.user_id)
        _refuse_for_billing(ctx)
        if store.find_live_by_name(owner, body.model_name) is None:
            fate = ctx.injector.on_create()
        else:
            fate = faults_module.CreateFate(lose_response=False, fail_model=False)
        model = store.create_model(owner, body, fail=fate.fail_model)  # 409 if taken
        log.info("created model %s (%s)", model.model_name, model.model_id)
        if fate.lose_response:
            # The create is committed; only the answer is lost, as behind a failing proxy.
            raise ApiProblem(502, UNAVAILABLE, "upstream connect error or reset before headers")
        return ctx.model_response(model)

    @app.get("/v1/models")
    async def list_models(request: Request) -> Response:
        owner = ctx.caller(request.query_params.get("userId"))
        models = store.list_models(owner)
        # One token, one user: the list is every model, so purged ones can leave the cache.
        ctx.cache.forget(keep={m.model_id for m in models})
        return ctx.models_response(models)

    @app.post("/v1/models:validate")
    async def validate_name(request: Request) -> JSONResponse:
        body = await json_object(request, "modelName and userId")
        owner = ctx.caller(body.get("userId"))
        name = body.get("modelName")
        if not isinstance(name, str) or not name:
            raise invalid("modelName: required")
        free = store.find_live_by_name(owner, name) is None
        return JSONResponse({"isValid": bool(MODEL_NAME_PATTERN.match(name)) and free})

    @app.post("/v1/models:search-by-infra")
    async def search_by_infra(request: Request) -> Response:
        body = await json_object(request, "infra and userId")
        owner = ctx.caller(body.get("userId"))
        wanted = body.get("infra")
        if not isinstance(wanted, dict):
            raise invalid("infra: required (an object with cloudProvider and/or regions)")
        wanted = {k: v for k, v in wanted.items() if v not in (None, "")}
        found = [m for m in store.list_models(owner) if _infra_matches(m, wanted)]
        return ctx.models_response(found)

    @app.post("/v1/models/check")
    async def check_model(request: Request) -> JSONResponse:
        body = await json_object(request, "modelId")
        model_id = body.get("modelId")
        if not isinstance(model_id, str) or not model_id:
            raise invalid("modelId: required")
        model = store.get_model(ctx.user_id, model_id)  # 404 when not the caller's
        return JSONResponse(required_memory(model))

    @app.get("/v1/models/{model_id}")
    async def get_model(model_id: str, request: Request) -> Response:
        owner = ctx.caller(request.query_params.get("userId"))
        return ctx.model_response(store.get_model(owner, model_id))

    @app.delete("/v1/models/{model_id}")
    async def delete_model(model_id: str, request: Request) -> JSONResponse:
        owner = ctx.caller(request.query_params.get("userId"))
        model = store.delete_model(owner, model_id)
        log.info("deleted model %s (%s)", model.model_name, model.model_id)
        return JSONResponse({})


def _refuse_for_billing(ctx: Context) -> None:
    # Deploy runs billing checks first: a refusal commits nothing.
    status = ctx.injector.knobs.refuse_creates_status
    if not status:
        return
    code = ctx.injector.knobs.refuse_creates_code or _billing_code(status)
    ctx.injector.billing_refusals += 1
    raise ApiProblem(
        status,
        code,
        "billing check failed: insufficient balance to deploy this model; add funds or "
        "choose a smaller deployment",
    )


def _billing_code(status: int) -> int:
    return {429: 8, 403: 7, 401: 16, 404: 5, 409: 10}.get(status, FAILED_PRECONDITION)


def _infra_matches(model: StoredModel, wanted: dict[str, Any]) -> bool:
    infra = model.spec.get("infra")
    if not isinstance(infra, dict):
        return False
    return all(infra.get(key) == value for key, value in wanted.items())


def required_memory(model: StoredModel) -> dict[str, float]:
    """A rough estimate: 2 bytes per parameter plus 20% overhead; LMCache a quarter of it."""
    path = str(model.spec.get("modelPath") or "")
    match = _PARAMS.search(path)
    gpu = round(float(match.group(1)) * 2 * 1.2, 1) if match else _DEFAULT_GPU_MEMORY_GIB
    cache = round(gpu / 4, 1) if model.spec.get("kvCacheEnabled") else 0.0
    return {"requiredGpuMemoryGib": gpu, "requiredLmCacheMemoryGib": cache}
