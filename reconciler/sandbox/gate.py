"""The ASGI layer in front of every route: request ids, bearer auth, latency and request faults.

Runs before routing so that 401s, unknown routes and injected faults all carry an
x-request-id. /_sandbox/ admin routes are authenticated but never delayed or faulted.
Latency holds the answer back, not the work: a call is answered `latencyMs` after it
arrived (later only when the sandbox is too busy), as a remote control plane would be.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from reconciler.sandbox.faults import Fault, FaultInjector
from reconciler.sandbox.problems import (
    RESOURCE_EXHAUSTED,
    UNAUTHENTICATED,
    UNAVAILABLE,
    ApiProblem,
)
from reconciler.sandbox.store import ModelStore
from reconciler.sandbox.tokens import TokenBook

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]

ADMIN_PREFIX = "/_sandbox/"
# `tm auth refresh` posts its refresh token without an Authorization header.
UNAUTHENTICATED_PATHS = frozenset({"/auth/cli/refresh"})


class Gate:
    def __init__(
        self, app: Asgi, *, tokens: TokenBook, store: ModelStore, faults: FaultInjector
    ) -> None:
        self._app = app
        self._tokens = tokens
        self._store = store
        self._faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        request_id = uuid.uuid4().hex.encode()
        path = scope["path"]
        delayed = not path.startswith(ADMIN_PREFIX) and path not in UNAUTHENTICATED_PATHS
        # The latency knob is the time from a request's arrival to its answer: the work
        # is done at once and the answer held back until then, so the sandbox's own
        # processing time is inside the latency, not on top of it.
        answer_at = loop.time() + (self._faults.knobs.latency_ms / 1000.0 if delayed else 0.0)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id)]
                wait = answer_at - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
            await send(message)

        problem = self._admit(scope)
        if problem is None and delayed:
            problem = self._fault(scope)
        if problem is not None:
            await _send_problem(send_with_id, problem)
            return
        await self._app(scope, receive, send_with_id)

    def _admit(self, scope: Scope) -> ApiProblem | None:
        path = scope["path"]
        if path in UNAUTHENTICATED_PATHS:
            return None
        supplied = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                supplied = value
                break
        scheme, _, token = supplied.decode("latin-1").partition(" ")
        if scheme != "Bearer" or not token:
            return _unauthenticated("missing bearer token")
        if path.startswith(ADMIN_PREFIX) and self._tokens.is_admin(token):
            return None  # the admin credential outlives its API expiry, to rotate with
        reason = self._tokens.check(token)
        if reason == "expired":
            return _unauthenticated(
                "access token expired; get a new one (tm auth refresh, or the sandbox's "
                "POST /_sandbox/tokens)"
            )
        if reason is not None:
            return _unauthenticated("invalid bearer token")
        return None

    def _fault(self, scope: Scope) -> ApiProblem | None:
        if scope["method"] == "POST" and scope["path"] == "/v1/models":
            self._store.create_calls += 1
        elif scope["method"] == "GET" and scope["path"] == "/auth/profile":
            self._store.profile_calls += 1
        # Decided on arrival, so the sequence follows request order.
        fault = self._faults.on_request()
        if fault is Fault.RATE_LIMITED:
            return ApiProblem(
                429,
                RESOURCE_EXHAUSTED,
                "rate limit exceeded; retry after 1 second",
                headers={"retry-after": "1"},
            )
        if fault is Fault.ERROR:
            return ApiProblem(503, UNAVAILABLE, "service unavailable (sandbox injected fault)")
        return None


def _unauthenticated(what: str) -> ApiProblem:
    return ApiProblem(
        401,
        UNAUTHENTICATED,
        f"{what}; send 'Authorization: Bearer <token>' with the token the sandbox printed at "
        "start or one it issued",
    )


async def _send_problem(send: Send, problem: ApiProblem) -> None:
    body = json.dumps(problem.body()).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((k.encode(), v.encode()) for k, v in problem.headers.items()),
    ]
    await send({"type": "http.response.start", "status": problem.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
