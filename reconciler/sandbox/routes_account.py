"""The account-side routes: who am I, token refresh, balance, GPU pricing and deployment logs.

Answers follow the official SDK's types (`User`, `Money`, `GpuPricing`, `LogEntry`); where the
real values are unknown they are static or knob-driven, and docs/sandbox.md says so. The
profile's apiKey is a secret: generated per run, never logged.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from reconciler.core.errors import UsageError
from reconciler.sandbox import lifecycle
from reconciler.sandbox.catalog import GPU_PRICING, INACTIVE_PRICING
from reconciler.sandbox.context import Context, json_object
from reconciler.sandbox.model_json import rfc3339
from reconciler.sandbox.problems import UNAUTHENTICATED, ApiProblem, invalid, not_found

_DIRECTIONS = {
    "": False,
    "LOG_DIRECTION_UNSPECIFIED": False,
    "LOG_DIRECTION_FORWARD": False,
    "LOG_DIRECTION_BACKWARD": True,
}
_DEFAULT_LOG_LIMIT = 100


def register(app: FastAPI, ctx: Context) -> None:
    profile_api_key = "tmu-" + secrets.token_hex(16)

    @app.get("/auth/profile")
    async def profile() -> JSONResponse:
        user = {
            "id": ctx.user_id,
            "firstName": "Sandbox",
            "lastName": "User",
            "displayName": "Sandbox User",
            "userEmail": "sandbox@tensormesh.local",
            "authProvider": "sandbox",
            "authProviderId": f"sandbox|{ctx.user_id}",
            "avatarUrl": "",
            "stripeCusId": "",
            "userRole": "USER_ROLE_USER",
            "company": "Tensormesh Sandbox",
            "tosAcceptedAt": rfc3339(0),
            "surveyCompletedAt": "",
            "apiKey": profile_api_key,  # the SDK hides it; so must every client
        }
        return JSONResponse({"user": user})

    @app.post("/auth/cli/refresh")
    async def refresh(request: Request) -> JSONResponse:
        body = await json_object(request, "refresh_token")
        token = body.get("refresh_token")
        issued = ctx.tokens.refresh(token) if isinstance(token, str) else None
        if issued is None:
            raise ApiProblem(401, UNAUTHENTICATED, "refresh token unknown or already used")
        return JSONResponse(issued.to_json(ctx.store.now()))

    @app.get("/v1/billing/balance")
    async def balance(request: Request) -> JSONResponse:
        ctx.caller(request.query_params.get("userId"))
        return JSONResponse({"balance": money(ctx.shape.balance, ctx.shape.currency)})

    @app.get("/v1/billing/gpu-pricing")
    async def gpu_pricing(request: Request) -> JSONResponse:
        query = request.query_params
        provider, gpu_type = query.get("cloudProvider"), query.get("gpuType")
        active_only = _query_bool(query.get("activeOnly"), "activeOnly")
        rows = [
            _price_row(p, g, nanos, active=(p, g) not in INACTIVE_PRICING)
            for (p, g), nanos in sorted(GPU_PRICING.items())
            if provider in (None, "", p) and gpu_type in (None, "", g)
        ]
        if active_only:
            rows = [row for row in rows if row["isActive"]]
        return JSONResponse({"pricing": rows})

    @app.get("/v1/observability/deployments/{deployment_id}/logs")
    async def deployment_logs(deployment_id: str, request: Request) -> JSONResponse:
        query = request.query_params
        owner = ctx.caller(query.get("userId"))
        model = next(
            (m for m in ctx.store.list_models(owner) if m.deployment_id == deployment_id), None
        )
        if model is None:
            raise not_found(f"deployment {deployment_id} not found")
        start = _query_time(query.get("startTime"), "startTime")
        end = _query_time(query.get("endTime"), "endTime")
        limit = _query_limit(query.get("limit"))
        direction = query.get("direction") or ""
        if direction not in _DIRECTIONS:
            raise invalid(f"direction: must be one of {', '.join(d for d in _DIRECTIONS if d)}")
        events = [
            e
            for e in lifecycle.events_at(model, ctx.store.now())
            if (start is None or e.at >= start) and (end is None or e.at < end)
        ]
        if _DIRECTIONS[direction]:
            events.reverse()
        logs = [{"timestamp": rfc3339(e.at), "message": e.log} for e in events[:limit]]
        return JSONResponse({"logs": logs})


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


def _price_row(provider: str, gpu_type: str, nanos_total: int, *, active: bool) -> dict[str, Any]:
    units, nanos = divmod(nanos_total, 1_000_000_000)
    rate = {"currencyCode": "USD", "units": str(units), "nanos": nanos}
    return {"gpuType": gpu_type, "cloudProvider": provider, "hourlyRate": rate, "isActive": active}


def _query_bool(value: str | None, name: str) -> bool:
    # grpc-gateway parses bool query parameters with strconv.ParseBool.
    if value in (None, "", "false", "False", "FALSE", "0", "f", "F"):
        return False
    if value in ("true", "True", "TRUE", "1", "t", "T"):
        return True
    raise invalid(f"{name}: {value!r} is not a boolean")


def _query_time(value: str | None, name: str) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError as exc:
        raise invalid(f"{name}: {value!r} is not an RFC 3339 time") from exc


def _query_limit(value: str | None) -> int:
    if not value:
        return _DEFAULT_LOG_LIMIT
    if not value.isdigit():
        raise invalid(f"limit: {value!r} is not a non-negative integer")
    return int(value) or _DEFAULT_LOG_LIMIT
