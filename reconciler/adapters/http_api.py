"""The control-plane adapter: the ModelsApi port over httpx, shared by every apply worker.

Translates HTTP outcomes into the project's errors and retries reads and deletes only;
a deploy is sent exactly once. No secret (token, request secrets, any apiKey returned
in this run) ever reaches a message, repr or log, and no server text is shown with its
control characters. `abort()` ends every call at once when the run is interrupted.
"""

from __future__ import annotations

import dataclasses
import email.utils
import json as jsonlib
import logging
import math
import random
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any

import httpx

from reconciler import __version__
from reconciler.adapters import endpoint, http_settings, live_model, retry, token_source
from reconciler.adapters.http_transport import AnswerRefused, BoundedTransport, KeepAliveTransport
from reconciler.adapters.limiter import CircuitBreaker, SharedLimiter
from reconciler.adapters.retry import RetryPolicy
from reconciler.adapters.token_source import TokenSource
from reconciler.core import named
from reconciler.core.errors import (
    ApiAuthError,
    ApiConflictError,
    ApiError,
    ApiInterruptedError,
    ApiInvalidError,
    ApiMalformedError,
    ApiNotFoundError,
    ApiRateLimitedError,
    ApiServerError,
    ApiTimeoutError,
    ApiUnreachableError,
    UsageError,
)
from reconciler.core.model import DeployRequest, KnownModels, LiveModel

TOKEN_ENV = token_source.TOKEN_ENV
BASE_URL_ENV = "TENSORMESH_CONTROL_PLANE_BASE_URL"
RETRY_BUDGET_ENV = retry.RETRY_BUDGET_ENV
DEFAULT_BASE_URL = "https://api.tensormesh.ai"

_log = logging.getLogger(__name__)
_STATUS_ERRORS: dict[int, type[ApiError]] = {
    400: ApiInvalidError,
    401: ApiAuthError,
    403: ApiAuthError,
    404: ApiNotFoundError,
    409: ApiConflictError,
}
_MAX_SERVER_MESSAGE = 500
_REDACTED = "[redacted]"
_MAX_LOCATION = 200
# Deeper JSON than this is no Model: refuse it before json's recursion limit does.
_MAX_DEPTH = 64
_CONTAINERS = (dict, list)  # what json builds besides scalars


class HttpModelsApi:
    """ModelsApi over an httpx.Client whose base_url is the control plane URL.

    Thread-safe: workers share one instance; the only mutable parts (limiter and
    breaker) lock themselves. Owns the client: `close()` closes it.
    """

    def __init__(
        self,
        client: httpx.Client,
        *,
        token: str | TokenSource,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        breaker: CircuitBreaker | None = None,
        limiter: SharedLimiter | None = None,
        transports: Sequence[httpx.BaseTransport] = (),
    ) -> None:
        self._client = client
        self._tokens = token_source.StaticToken(token) if isinstance(token, str) else token
        self._policy = policy or RetryPolicy()
        self._aborted = threading.Event()
        # The real sleep wakes up on abort(): a stopped run must not sit out a backoff.
        self._sleep = self._abortable_sleep if sleep is time.sleep else sleep
        self._clock = clock
        self._breaker = breaker or CircuitBreaker(clock=clock)
        self._limiter = limiter or SharedLimiter(clock=clock, sleep=self._sleep)
        self._transports = tuple(transports)
        # Every apiKey the API returned in this run: scrubbed from any later server text.
        self._returned_keys: set[str] = set()
        self._keys_lock = threading.Lock()
        # Merged with the base URL once: parsing a URL on every call costs real client CPU.
        self._models_url = self._absolute("/v1/models")
        self._profile_url = self._absolute("/auth/profile")

    def __repr__(self) -> str:
        return f"HttpModelsApi(base_url={str(self._client.base_url)!r})"

    def close(self) -> None:
        self._client.close()

    def abort(self) -> None:
        """End every call now, from any thread: new calls raise ApiInterruptedError, calls
        waiting to retry wake up, and answers being read are cut (their outcome unknown)."""
        self._aborted.set()
        for transport in self._transports:
            abort = getattr(transport, "abort", transport.close)
            abort()

    def _abortable_sleep(self, seconds: float) -> None:
        self._aborted.wait(seconds)

    def __enter__(self) -> HttpModelsApi:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the port ---------------------------------------------------------------

    def whoami(self) -> str:
        call = "GET /auth/profile (who am I)"
        response = self._send("GET", self._profile_url, call=call, retried=True)
        body = self._json(call, response)
        user = body.get("user")
        user_id = (user.get("id") or user.get("userId")) if isinstance(user, Mapping) else None
        try:
            plain = live_model.plain_id(user_id, "user.id", call=call)
        except ApiMalformedError as exc:
            raise self._malformed(call, response, exc.detail) from None
        if plain is None:
            raise ApiError(call, detail="the profile has no user id; set TENSORMESH_USER_ID")
        return plain

    def list_models(self, user_id: str, *, known: KnownModels | None = None) -> list[LiveModel]:
        call = f"GET /v1/models (list models of user {user_id})"
        response = self._send(
            "GET", self._models_url, call=call, params={"userId": user_id}, retried=True
        )
        # With `known`, only the models read in full are walked (_read_listing).
        body = self._json(call, response, walk=known is None)
        models = body.get("models") or []  # an empty list is a zero value: may be missing
        if not isinstance(models, list):
            raise self._malformed(call, response, "`models` is not a list")
        if known is None:
            return [self._parse(call, response, item) for item in models]
        return self._read_listing(call, response, models, known)

    def _read_listing(
        self, call: str, response: httpx.Response, models: list[Any], known: KnownModels
    ) -> list[LiveModel]:
        """The models `known` names in full, every other brief (live_model.parse_brief).

        Every model's own apiKey is kept for scrubbing, as the whole-body walk would; a
        model read in full is walked first (depth, nested keys), as its parse recurses."""
        keys = {
            key
            for item in models
            if type(item) is dict and type(key := item.get("apiKey")) is str and len(key) >= 4
        }
        with self._keys_lock:
            self._returned_keys.update(keys)
        ids, names = known.model_ids, known.names  # KnownModels.names_model, inline
        out = []
        try:
            for item in models:
                model = live_model.parse_brief(item, call=call)
                if model.model_id in ids or model.model_name in names:
                    model = self._read_in_full(call, item)
                out.append(model)
        except ApiError as exc:
            raise self._malformed(call, response, exc.detail) from None
        return out

    def _read_in_full(self, call: str, item: Any) -> LiveModel:
        depth, found = _walk(item)
        if depth + 2 > _MAX_DEPTH:  # below the envelope and its list
            why = f"the response is nested deeper than {_MAX_DEPTH} levels"
            raise ApiMalformedError(call, detail=why)
        with self._keys_lock:
            self._returned_keys.update(found)
        return live_model.parse_model(item, call=call)

    def get_model(self, user_id: str, model_id: str) -> LiveModel:
        path = _model_path(model_id)
        call = f"GET {path} (get model)"
        response = self._send(
            "GET", self._absolute(path), call=call, params={"userId": user_id}, retried=True
        )
        return self._parse(call, response, _unwrap_model(self._json(call, response)))

    def deploy_model(self, request: DeployRequest) -> LiveModel:
        call = f"POST /v1/models (deploy {request.model_name})"
        # Never retried: a lost answer may hide a created model; the caller looks it up by name.
        response = self._send(
            "POST",
            self._models_url,
            call=call,
            json=request.body(),
            retried=False,
            secrets=request.secrets.values(),
        )
        return self._parse(call, response, _unwrap_model(self._json(call, response)))

    def delete_model(self, user_id: str, model_id: str) -> None:
        path = _model_path(model_id)
        call = f"DELETE {path} (delete model)"
        try:
            self._send(
                "DELETE", self._absolute(path), call=call, params={"userId": user_id}, retried=True
            )
        except ApiNotFoundError:
            return  # already gone, e.g. a retried DELETE whose first answer was lost

    def find_model_by_name(self, user_id: str, model_name: str) -> LiveModel | None:
        return named.model_named(self.list_models(user_id), model_name)

    def read_json(
        self, path: str, *, call: str, params: Mapping[str, str] | None = None
    ) -> Mapping[str, Any]:
        """A retried GET of any read-only call (billing, pricing): its JSON object body."""
        response = self._send("GET", self._absolute(path), call=call, params=params, retried=True)
        return self._json(call, response)

    def deployment_logs(self, user_id: str, deployment_id: str, *, limit: int) -> tuple[str, ...]:
        path = "/v1/observability/deployments/" + urllib.parse.quote(deployment_id, safe="")
        call = f"GET {path}/logs (deployment logs)"
        params = {"userId": user_id, "limit": str(limit), "direction": "LOG_DIRECTION_BACKWARD"}
        try:
            response = self._send(
                "GET", self._absolute(path + "/logs"), call=call, params=params, retried=True
            )
        except ApiNotFoundError:
            return ()  # an API without the endpoint (or a deployment already gone)
        except ApiError as exc:
            if exc.status == 501:
                return ()  # an older API: grpc-gateway's "not implemented"
            raise
        body = self._json(call, response)
        entries = body.get("logs")
        if entries is None:
            entries = []  # an empty list is a zero value: may be missing or null
        if not isinstance(entries, list):
            raise self._malformed(call, response, "`logs` is not a list")
        hidden = self._hidden(self._tokens.known())
        lines = [_log_line(entry, hidden) for entry in entries[:limit]]
        # Asked newest first, so that `limit` keeps the latest; shown oldest first.
        return tuple(line for line in reversed(lines) if line)

    # -- sending ----------------------------------------------------------------

    def _absolute(self, path: str) -> httpx.URL:
        """`path` under the base URL, as httpx would merge it (the base may have a path)."""
        base = self._client.base_url
        return base.copy_with(raw_path=base.raw_path + path.lstrip("/").encode("ascii"))

    def _send(
        self,
        method: str,
        url: httpx.URL,
        *,
        call: str,
        retried: bool,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        secrets: Iterable[str] = (),
    ) -> httpx.Response:
        secrets = tuple(secrets)
        started = self._clock()
        attempt = 0
        renewed = False
        while True:
            token = self._tokens.current()  # one stat: a rotated token file is picked up
            hidden = (*self._tokens.known(), *secrets)
            if self._aborted.is_set():
                raise ApiInterruptedError(call, detail="the run was stopped; not sent")
            self._breaker.check(call)
            self._limiter.acquire()
            cause: Exception | None = None
            retry_after: float | None = None
            try:
                response = self._client.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    headers={"Authorization": f"Bearer {token}"},
                )
            except httpx.HTTPError as exc:
                if self._aborted.is_set():
                    raise ApiInterruptedError(
                        call,
                        detail="the run was stopped while waiting for the answer; outcome unknown",
                    ) from None
                cause = exc
                error = _transport_error(call, exc, self._hidden(hidden))
            else:
                if response.is_success:
                    self._breaker.note_success()
                    return response
                if response.status_code == 401:
                    self._tokens.count_refusal()
                if response.status_code == 401 and not renewed:
                    renewed = True
                    # A 401 is a definite refusal: nothing was done, so even a deploy may be
                    # sent once more, with a token that changed since (a rotated file).
                    if self._tokens.renew(token) is not None:
                        _log.info("%s: token refused; sending again with the new one", call)
                        continue
                retry_after = _retry_after(response)
                error = _status_error(call, response, self._hidden(hidden), retry_after=retry_after)
                if response.status_code == 401:
                    error = _with_hint(error, self._tokens.refused_hint())
                if response.status_code == 429 and retry_after is not None:
                    # Everyone backs off, not just this worker.
                    self._limiter.pause_for(min(retry_after, self._policy.retry_after_cap))
            self._note_health(error)
            if not retried or not _is_retryable(error):
                raise error from cause
            delay = retry.next_delay(
                self._policy,
                attempt,
                retry_after=retry_after,
                rand=random.random(),
            )
            elapsed = self._clock() - started
            if self._breaker.is_open or not retry.should_retry(
                self._policy, attempt, delay=delay, elapsed=elapsed
            ):
                # Raise the real failure (status, request id), not a bare "circuit open".
                raise error from cause
            _log.info("%s; retry %d in %.1f s", error, attempt + 1, delay)
            self._sleep(delay)
            attempt += 1

    def _note_health(self, error: ApiError) -> None:
        if isinstance(error, ApiServerError | ApiUnreachableError):
            self._breaker.note_failure()
        elif not isinstance(error, ApiRateLimitedError):
            self._breaker.note_success()  # the server answered sensibly: it is up

    def _hidden(self, hidden: tuple[str, ...]) -> tuple[str, ...]:
        with self._keys_lock:
            return (*hidden, *self._returned_keys)

    def _json(self, call: str, response: httpx.Response, *, walk: bool = True) -> Mapping[str, Any]:
        why, body, keys = _parse_json(response.content, walk=walk)
        if why:
            raise self._malformed(call, response, why)
        if not isinstance(body, Mapping):
            raise self._malformed(call, response, "the response is not a JSON object")
        if keys:
            with self._keys_lock:
                self._returned_keys.update(keys)
        return body

    def _parse(self, call: str, response: httpx.Response, obj: Any) -> LiveModel:
        try:
            return live_model.parse_model(obj, call=call)
        except ApiError as exc:
            raise self._malformed(call, response, exc.detail) from None

    @staticmethod
    def _malformed(call: str, response: httpx.Response, what: str) -> ApiError:
        what = what.removeprefix("malformed response: ")
        return ApiMalformedError(
            call,
            status=response.status_code,
            request_id=_request_id(response),
            detail=f"malformed response: {what}",
        )


NO_DELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]


def connect(
    api_url: str | None,
    *,
    concurrency: int = 8,
    timeout: float = 30.0,
    environ: Mapping[str, str],
    tokens: TokenSource | None = None,
    breaker_cooldown: float | None = None,
) -> HttpModelsApi:
    """An HttpModelsApi for the configured control plane, pooled for `concurrency` workers.

    The token comes from the environment (token_source.from_environment: the variable, a
    file, or `tm`'s login), never from a flag, so it stays out of shell history and process
    listings; `tokens` passes a source a long-lived command keeps across passes.
    `breaker_cooldown`: seconds after which an open circuit lets calls through again; None
    keeps it open for the client's life (one run).
    """
    env = environ
    if tokens is None:
        tokens = token_source.from_environment(env)
    url = endpoint.check_url(
        api_url or env.get(BASE_URL_ENV, "") or DEFAULT_BASE_URL,
        source="--api-url" if api_url else BASE_URL_ENV,
    )
    if concurrency < 1:
        raise UsageError(f"--concurrency must be at least 1, got {concurrency}")
    policy = _retry_policy(env.get(RETRY_BUDGET_ENV, "").strip())
    settings = http_settings.read_network_settings(env)
    if http_settings.TIMEOUT_ENV not in env:
        settings = dataclasses.replace(settings, timeout=timeout)
    # Plain http:// all the way (a sandbox, a local sidecar) loads no trust roots: tens of
    # milliseconds per client, twice a pass. Our own TENSORMESH_CA_BUNDLE is still checked.
    needed = settings.ca_bundle is not None or _uses_tls(url, settings)
    tls = http_settings.tls_context(settings) if needed else None

    def transport(proxy: str | None) -> httpx.BaseTransport:
        # One kept-alive connection per worker, so no worker opens a connection per call.
        # TCP_NODELAY: a small write must not wait for the server's delayed ACK (~40 ms).
        return _transport(proxy, settings, tls, max_idle=concurrency)

    direct = transport(None)
    mounts = {
        pattern: None if proxy is None else transport(proxy) for pattern, proxy in settings.proxies
    }
    client = httpx.Client(
        base_url=url,
        timeout=httpx.Timeout(settings.timeout),
        transport=direct,
        # httpx reads no proxy variable when given a transport: its own mapping, rebuilt.
        mounts=mounts,
        headers={
            "Accept": "application/json",
            # Only codings the transport decodes within the size cap.
            "Accept-Encoding": "gzip, deflate",
            "User-Agent": f"tensormesh-reconciler/{__version__}",
        },
    )
    transports = [direct, *(t for t in mounts.values() if t is not None)]
    breaker = CircuitBreaker(cooldown=breaker_cooldown)
    return HttpModelsApi(
        client, token=tokens, policy=policy, transports=transports, breaker=breaker
    )


def _uses_tls(url: str, settings: http_settings.NetworkSettings) -> bool:
    """Whether any connection may be TLS: to the control plane, or to a proxy."""
    schemes = {urllib.parse.urlsplit(url).scheme.lower()}
    schemes |= {
        urllib.parse.urlsplit(proxy).scheme.lower() for _, proxy in settings.proxies if proxy
    }
    return schemes != {"http"}


def _transport(
    proxy: str | None,
    settings: http_settings.NetworkSettings,
    tls: Any,
    *,
    max_idle: int,
) -> httpx.BaseTransport:
    """The fast keep-alive transport, direct or through an http:// proxy; httpx's own for
    other proxies (https://, socks5://), held to the same deadline and size cap."""
    parsed = httpx.Proxy(proxy) if proxy is not None else None
    if parsed is None or parsed.url.scheme == "http":
        return KeepAliveTransport(
            max_idle=max_idle,
            socket_options=NO_DELAY,
            ssl_context=tls,
            deadline=settings.timeout,
            max_body=settings.max_body,
            proxy=parsed,
        )
    try:
        inner = httpx.HTTPTransport(
            verify=tls, proxy=parsed, limits=httpx.Limits(max_keepalive_connections=max_idle)
        )
    except ImportError as exc:
        raise UsageError(
            f"the proxy {parsed.url.scheme}://{parsed.url.host}:{parsed.url.port} needs "
            "`pip install httpx[socks]`; or use an http:// proxy"
        ) from exc
    return BoundedTransport(inner, deadline=settings.timeout, max_body=settings.max_body)


def _retry_policy(budget: str) -> RetryPolicy:
    """The default policy, with the retry budget from TENSORMESH_RETRY_BUDGET if set."""
    if not budget:
        return RetryPolicy()
    try:
        seconds = float(budget)
    except ValueError:
        seconds = -1.0
    if not 0.0 <= seconds < float("inf"):
        raise UsageError(
            f"{RETRY_BUDGET_ENV}={budget!r} is not a number of seconds >= 0; unset it for the "
            "default 30 s"
        )
    return RetryPolicy(budget=seconds)


# -- error translation --------------------------------------------------------


def _transport_error(call: str, exc: httpx.HTTPError, hidden: Iterable[str]) -> ApiError:
    detail = _redact(f"{type(exc).__name__}: {exc}".rstrip(": "), hidden)
    if isinstance(exc, AnswerRefused):
        # An answer came, so for a deploy the outcome is unknown, as for any malformed one.
        return ApiMalformedError(call, detail=f"malformed response: {exc}")
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.UnsupportedProtocol):
        return ApiUnreachableError(call, detail=f"no connection to {_url_tried(exc)} ({detail})")
    if isinstance(exc, httpx.PoolTimeout):
        return ApiUnreachableError(call, detail=f"not sent: no free connection ({detail})")
    if isinstance(exc, httpx.TimeoutException):
        return ApiTimeoutError(call, detail=f"no answer in time; outcome unknown ({detail})")
    if isinstance(exc, httpx.NetworkError | httpx.RemoteProtocolError):
        # The request may have reached the server before the connection dropped.
        return ApiTimeoutError(call, detail=f"connection lost; outcome unknown ({detail})")
    if isinstance(exc, httpx.TransportError):
        return ApiUnreachableError(call, detail=detail)
    return ApiError(call, detail=detail)


def _url_tried(exc: httpx.HTTPError) -> str:
    """Scheme, host, port and path of the failed request: never its user info or query,
    where a secret could be."""
    try:
        url = exc.request.url
    except RuntimeError:  # an error raised without a request
        return "the control plane"
    port = f":{url.port}" if url.port is not None else ""
    return f"{url.scheme}://{url.host}{port}{url.path}"


def _status_error(
    call: str, response: httpx.Response, hidden: Iterable[str], *, retry_after: float | None
) -> ApiError:
    code, message, detail = _read_error_body(response)
    status = response.status_code
    if 300 <= status < 400:
        detail = _redirect_detail(response)
    common: dict[str, Any] = {
        "status": status,
        "code": code,
        "server_message": _redact(message, hidden),
        "request_id": _request_id(response),
        "detail": _redact(detail, hidden),
    }
    if status == 429:
        return ApiRateLimitedError(call, retry_after=retry_after, **common)
    error_type = _STATUS_ERRORS.get(status)
    if error_type is None:
        error_type = ApiServerError if status >= 500 else ApiError
    return error_type(call, **common)


_MAX_LOG_LINE = 300


def _log_line(entry: Any, hidden: Iterable[str]) -> str:
    """One deployment log entry as `timestamp message`: control characters stripped, known
    secrets (the token, every apiKey seen) scrubbed, clipped; "" when unusable."""
    if not isinstance(entry, Mapping):
        return ""
    message = entry.get("message")
    stamp = entry.get("timestamp")
    if not isinstance(message, str) or not message.strip():
        return ""
    text = _redact(message, hidden).strip()
    if isinstance(stamp, str) and stamp:
        text = f"{live_model.clean_text(stamp)[:40]} {text}"
    return text if len(text) <= _MAX_LOG_LINE else text[: _MAX_LOG_LINE - 1] + "…"


def _with_hint(error: ApiError, hint: str) -> ApiError:
    """`error` telling where the refused token came from and how to get a new one."""
    error.hint = hint
    error.args = (error.describe(),)
    return error


def _retry_after(response: httpx.Response) -> float | None:
    if response.status_code not in retry.RETRY_STATUSES:
        return None
    return retry.parse_retry_after(response.headers.get("retry-after"), now=_server_now(response))


def _read_error_body(response: httpx.Response) -> tuple[int | None, str, str]:
    """(grpc code, server message, fallback detail). Never returns the raw body: it may
    echo secrets."""
    why, body = parse_json(response.content)
    if why:
        kind = live_model.clean_text(response.headers.get("content-type", "unknown type"))
        return None, "", f"{len(response.content)}-byte non-JSON body ({kind.split(';')[0][:60]})"
    if not isinstance(body, Mapping):
        return None, "", "an error body that is not a JSON object"
    code = body.get("code")
    message = body.get("message")
    text = message[:_MAX_SERVER_MESSAGE] if isinstance(message, str) else ""
    return (code if isinstance(code, int) else None), text, ""


def _redact(text: str, hidden: Iterable[str]) -> str:
    # A server message could echo a submitted secret; scrub every known one, also in the
    # escaped forms a repr or a JSON string would give it.
    for secret in hidden:
        if not secret:
            continue
        for form in {secret, repr(secret)[1:-1], jsonlib.dumps(secret)[1:-1]}:
            text = text.replace(form, _REDACTED)
    # After scrubbing, so that a secret holding a control character is still found whole.
    return live_model.clean_text(text)


def parse_json(content: bytes) -> tuple[str, Any]:
    """(why it is refused, or "", the document). Refuses what json accepts but no API
    sends: NaN/Infinity, numbers outside int64 or float range, absurd nesting."""
    why, body, _ = _parse_json(content)
    return why, body


def _parse_json(content: bytes, *, walk: bool = True) -> tuple[str, Any, set[str]]:
    """parse_json's answer and every `apiKey` string in the document (see _walk); without
    `walk`, neither the depth nor the keys: the caller walks what it reads."""
    try:
        body = jsonlib.loads(
            content,
            parse_int=_int64,
            parse_float=_finite,
            parse_constant=_no_constant,
        )
    except _Refused as exc:
        return f"the response holds {exc}", None, set()
    except (ValueError, RecursionError):
        return "the response is not JSON", None, set()
    if not walk:
        return "", body, set()
    depth, keys = _walk(body)
    if depth > _MAX_DEPTH:
        return f"the response is nested deeper than {_MAX_DEPTH} levels", None, set()
    return "", body, keys


class _Refused(ValueError):
    pass


def _int64(text: str) -> int:
    if len(text) > 20:
        raise _Refused(f"a {len(text)}-digit integer")
    number = int(text)
    if not -(2**63) <= number < 2**63:
        raise _Refused("an integer outside int64")
    return number


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise _Refused("a number outside the float range")
    return number


def _no_constant(text: str) -> Any:
    raise _Refused(f"{text}, which is not JSON")


def _depth(value: Any) -> int:
    """The nesting depth of a parsed document (a scalar is 1; capped past _MAX_DEPTH)."""
    return _walk(value)[0]


def _returned_api_keys(body: Any) -> set[str]:
    """Every `apiKey` string in a response (a model, a wrapper, a list of models)."""
    return _walk(body, limit=None)[1]


def _walk(value: Any, *, limit: int | None = _MAX_DEPTH) -> tuple[int, set[str]]:
    """(nesting depth, every `apiKey` string of at least 4 characters) in one walk.

    Level by level, containers only: a list of 20,000 models holds ~500,000 scalars, and a
    non-empty container's scalars are one level below it, which counts the same. One walk
    for both answers: each was as costly as json.loads itself. Stops past `limit` (the
    document is refused then, so the keys do not matter). json builds plain dicts and
    lists only, so `type(...) is` is exact (and much faster). Iterative: a deep document
    must not hit the recursion limit here either."""
    keys: set[str] = set()
    if type(value) not in _CONTAINERS:
        return 1, keys
    deepest, level, depth = 1, [value], 1
    while level:
        deepest = depth
        if limit is not None and depth > limit:
            break
        below: list[Any] = []
        for item in level:
            if type(item) is dict:
                key = item.get("apiKey")
                if type(key) is str and len(key) >= 4:
                    keys.add(key)
                children: Any = item.values()
            else:
                children = item
            if children:
                deepest = depth + 1
                below.extend([child for child in children if type(child) in _CONTAINERS])
        level, depth = below, depth + 1
    return deepest, keys


def _redirect_detail(response: httpx.Response) -> str:
    location = live_model.clean_text(response.headers.get("location", ""))[:_MAX_LOCATION]
    where = f" to {location!r}" if location else ""
    return (
        f"redirected{where}; redirects are not followed (a deploy is never sent twice): "
        "set --api-url to the control plane's own URL"
    )


def _request_id(response: httpx.Response) -> str | None:
    value = response.headers.get("x-request-id")
    return live_model.clean_text(value)[:100] if value else None


def _is_retryable(error: ApiError) -> bool:
    return isinstance(error, ApiUnreachableError) or error.status in retry.RETRY_STATUSES


def _server_now(response: httpx.Response) -> float:
    # An HTTP-date Retry-After is relative to the server's clock: use its Date header
    # when present, so clock skew between us and the server does not distort the wait.
    date = response.headers.get("date")
    if date:
        try:
            return email.utils.parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError, IndexError):
            pass
    return time.time()


def _model_path(model_id: str) -> str:
    # Quoted: an id read from a hand-edited state file must not become another path.
    return "/v1/models/" + urllib.parse.quote(model_id, safe="")


def _unwrap_model(body: Mapping[str, Any]) -> Any:
    model = body.get("model")
    return model if model is not None else body
