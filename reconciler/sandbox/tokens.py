"""The sandbox's bearer tokens: the configured one, tokens issued by rotation, and their expiry.

Real access tokens expire (`tm auth login` keeps a refresh token for that); `--token-ttl`
makes the sandbox's expire too, and /_sandbox/tokens or /auth/cli/refresh issue new ones.
Every token belongs to the one sandbox user. Driven by an injected clock; no I/O.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    refresh_token: str
    expires_at: float | None

    def to_json(self, now: float) -> dict[str, Any]:
        body: dict[str, Any] = {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "token_type": "Bearer",
        }
        if self.expires_at is not None:
            body["expires_in"] = max(0, round(self.expires_at - now))
        return body


class TokenBook:
    """Which access tokens are accepted now. The configured token is also the admin credential:
    /_sandbox/ accepts it even once it expired for the API, so a test can always rotate."""

    def __init__(self, token: str, *, ttl: float | None, clock: Clock) -> None:
        self.admin_token = token
        self._ttl = ttl
        self._clock = clock
        self._tokens: dict[str, IssuedToken] = {}
        self._refresh: dict[str, str] = {}  # refresh token -> access token it was issued with
        self._add(token, "tmr-" + secrets.token_hex(16))
        self.rejected = {"expired": 0, "unknown": 0}

    def _add(self, access: str, refresh: str) -> IssuedToken:
        expires = None if self._ttl is None else self._clock() + self._ttl
        issued = IssuedToken(access, refresh, expires)
        self._tokens[access] = issued
        self._refresh[refresh] = access
        return issued

    def issue(self, *, revoke_others: bool = False) -> IssuedToken:
        """A new access token (and refresh token); with revoke_others every other one stops
        working for the API at once (the admin token keeps its /_sandbox/ access)."""
        if revoke_others:
            self._tokens.clear()
            self._refresh.clear()
        return self._add("tma-" + secrets.token_hex(16), "tmr-" + secrets.token_hex(16))

    def refresh(self, refresh_token: str) -> IssuedToken | None:
        """`tm auth refresh`: a valid refresh token buys a new pair; the old pair is retired."""
        access = self._refresh.pop(refresh_token, None)
        if access is None:
            return None
        self._tokens.pop(access, None)
        return self.issue()

    def check(self, supplied: str) -> str | None:
        """None when `supplied` is a live access token, else why not ("unknown"/"expired")."""
        issued = None
        for token, candidate in self._tokens.items():
            if hmac.compare_digest(token.encode(), supplied.encode()):
                issued = candidate
        if issued is None:
            self.rejected["unknown"] += 1
            return "unknown"
        if issued.expires_at is not None and self._clock() >= issued.expires_at:
            self.rejected["expired"] += 1
            return "expired"
        return None

    def is_admin(self, supplied: str) -> bool:
        return hmac.compare_digest(self.admin_token.encode(), supplied.encode())
