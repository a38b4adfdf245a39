"""The /_sandbox/ admin routes: counters, forced failures, out-of-band drift, fault knobs,
token rotation and reset. Never delayed, faulted or counted (the gate sees to that).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from reconciler.core.errors import UsageError
from reconciler.sandbox import faults as faults_module
from reconciler.sandbox.context import Context, json_body, json_object
from reconciler.sandbox.problems import invalid


def register(app: FastAPI, ctx: Context) -> None:
    store, injector = ctx.store, ctx.injector

    @app.get("/_sandbox/stats")
    async def stats() -> JSONResponse:
        return JSONResponse(
            {
                "requests": injector.requests,
                "creates": dict(store.creates),
                "createCalls": store.create_calls,
                "profileCalls": store.profile_calls,
                "deletes": store.deletes,
                "faults": dict(injector.counts),
                "billingRefusals": injector.billing_refusals,
                "authRejected": dict(ctx.tokens.rejected),
                "knobs": injector.knobs.to_json(),
            }
        )

    @app.post("/_sandbox/models/{model_id}:fail")
    async def fail_model(model_id: str, request: Request) -> Response:
        body = await json_object(request, "optional status")
        status = body.get("status") or ctx.shape.failed_status
        allowed = (ctx.shape.failed_status, *ctx.shape.terminal_statuses)
        if status not in allowed:
            raise invalid(
                f"status: {status!r} is not a failure status of this sandbox; known: "
                f"{', '.join(allowed)} (add more with --terminal-status)"
            )
        return ctx.model_response(store.force_status(model_id, status))

    @app.patch("/_sandbox/models/{model_id}")
    async def patch_model(model_id: str, request: Request) -> Response:
        changes = await json_body(request)
        if not isinstance(changes, dict):
            raise invalid("body must be a JSON object of Model fields to change")
        return ctx.model_response(store.patch_model(model_id, changes))

    @app.post("/_sandbox/faults")
    async def set_faults(request: Request) -> JSONResponse:
        changes = await json_body(request)
        if not isinstance(changes, dict):
            raise invalid("body must be a JSON object of fault knobs")
        try:
            injector.knobs = faults_module.updated_knobs(injector.knobs, changes)
        except UsageError as exc:
            raise invalid(str(exc)) from exc
        return JSONResponse({"knobs": injector.knobs.to_json()})

    @app.post("/_sandbox/reset")
    async def reset() -> JSONResponse:
        # One sandbox serves many tests in turn: each starts from what a fresh one holds.
        store.reset()
        injector.reset()
        ctx.tokens.reset()
        ctx.cache.clear()
        return JSONResponse({"reset": True})

    @app.post("/_sandbox/tokens")
    async def issue_token(request: Request) -> JSONResponse:
        # Rotation as a secret store does it: a new token at once; with revokeOthers the old
        # ones stop working for the API (the admin token keeps its /_sandbox/ access).
        body = await json_object(request, "optional revokeOthers")
        revoke = body.get("revokeOthers", False)
        if not isinstance(revoke, bool):
            raise invalid("revokeOthers: must be a boolean")
        issued = ctx.tokens.issue(revoke_others=revoke)
        return JSONResponse(issued.to_json(store.now()))
