"""The sandbox's HTTP error answers: grpc-gateway bodies `{"code", "message", "details"}`.

Raised by request handling and turned into a response by the app; this is the wire protocol the
sandbox imitates, not an error of the reconciler, so it stands outside the ReconcilerError tree.
"""

from __future__ import annotations

from typing import Any

# gRPC status codes the sandbox uses.
INVALID_ARGUMENT = 3
NOT_FOUND = 5
ALREADY_EXISTS = 6
PERMISSION_DENIED = 7
RESOURCE_EXHAUSTED = 8
FAILED_PRECONDITION = 9
UNIMPLEMENTED = 12
UNAVAILABLE = 14
UNAUTHENTICATED = 16


class ApiProblem(Exception):
    """One error answer: HTTP status, gRPC code, message and extra headers."""

    def __init__(
        self, status: int, code: int, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": []}


def invalid(message: str) -> ApiProblem:
    return ApiProblem(400, INVALID_ARGUMENT, message)


def not_found(message: str) -> ApiProblem:
    return ApiProblem(404, NOT_FOUND, message)
