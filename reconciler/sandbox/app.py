"""The sandbox's HTTP application: the control plane's routes behind the auth/fault gate.

Wires the route modules to one shared context and answers errors as grpc-gateway does:
`{"code", "message", "details": []}`, a wrong method (and, by default, an unknown path) 501
with code 12 Unimplemented. Holds no state of its own.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from reconciler.sandbox import routes_account, routes_admin, routes_models
from reconciler.sandbox.config import SandboxConfig
from reconciler.sandbox.context import Context
from reconciler.sandbox.faults import FaultInjector
from reconciler.sandbox.gate import Gate
from reconciler.sandbox.problems import NOT_FOUND, UNIMPLEMENTED, ApiProblem
from reconciler.sandbox.store import ModelStore
from reconciler.sandbox.tokens import TokenBook


def create_app(
    config: SandboxConfig,
    store: ModelStore,
    injector: FaultInjector,
    *,
    tokens: TokenBook | None = None,
) -> Gate:
    """The ASGI application: the routes behind the auth/fault gate."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    tokens = tokens or TokenBook(config.token, ttl=config.shape.token_ttl, clock=store.now)
    ctx = Context(config, store, injector, tokens)

    @app.exception_handler(ApiProblem)
    async def on_problem(request: Request, exc: ApiProblem) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # grpc-gateway's routing errors: a known path with another method is Unimplemented
        # (501); an unknown path answers --unknown-path-status (501 by default, 404 possible).
        status = exc.status_code
        if status == 405:
            status = 501
        elif status == 404:
            status = config.shape.unknown_path_status
        code = NOT_FOUND if status == 404 else UNIMPLEMENTED if status == 501 else 2
        message = f"no route for {request.method} {request.url.path}"
        return JSONResponse({"code": code, "message": message, "details": []}, status_code=status)

    routes_models.register(app, ctx)
    routes_account.register(app, ctx)
    routes_admin.register(app, ctx)
    return Gate(app, tokens=tokens, store=store, faults=injector)
