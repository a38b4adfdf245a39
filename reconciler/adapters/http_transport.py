"""The HTTP/1.1 transport under the control-plane client: an httpx transport on http.client.

httpx stays the client API (requests, responses, errors, MockTransport in tests); this
replaces only the connection layer below it. httpcore's pure-Python HTTP/1.1 machinery
cost about 1.6 ms of CPU per call with 32 workers sharing one interpreter lock, and the
apply of N creates became CPU-bound on it; the standard library's http.client costs
about a third of that (docs/performance.md). Connections are kept alive in a LIFO pool,
checked for a server-side close before reuse, and never reused after an error. No retry
happens here: whether a failed request may be sent again is the client's decision.
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable

import httpx

# An idle connection older than this is closed rather than reused: shorter than the 5 s
# keep-alive timeout of uvicorn (the sandbox) and most servers' defaults, so that a server
# seldom closes a connection just as it is reused (a read is then retried; a deploy is
# looked up by name, never resent).
KEEPALIVE_EXPIRY = 4.0
_PORTS = {"http": 80, "https": 443}
# Raised mid-exchange by http.client or the socket: the server may have the request.
_EXCHANGE_ERRORS = (OSError, http.client.HTTPException)

Origin = tuple[str, str, int]


class KeepAliveTransport(httpx.BaseTransport):
    """HTTP/1.1 over http.client with kept-alive connections; thread-safe.

    `max_idle` bounds the connections kept for reuse (one per worker is enough); there
    is no bound on connections in use, since the caller's workers already bound that.
    """

    def __init__(
        self,
        *,
        max_idle: int = 8,
        socket_options: Iterable[tuple[int, int, int]] = (),
        ssl_context: ssl.SSLContext | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_idle = max_idle
        self._socket_options = tuple(socket_options)
        self._ssl_context = ssl_context
        self._clock = clock
        self._lock = threading.Lock()
        self._idle: dict[Origin, list[tuple[http.client.HTTPConnection, float]]] = {}
        self._closed = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        origin = _origin(request.url)
        timeouts = request.extensions.get("timeout", {})
        conn = self._checkout(origin, request, timeouts.get("connect"))
        try:
            status, reason, headers, content, reusable = _exchange(conn, request, timeouts)
        except BaseException:
            conn.close()  # its state is unknown: never reuse it
            raise
        if reusable:
            self._checkin(origin, conn)
        else:
            conn.close()
        return httpx.Response(
            status,
            headers=headers,
            stream=httpx.ByteStream(content),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason.encode("latin-1")},
        )

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, {}
        for stack in idle.values():
            for conn, _ in stack:
                conn.close()

    @property
    def idle_connections(self) -> int:
        with self._lock:
            return sum(len(stack) for stack in self._idle.values())

    # -- the pool -----------------------------------------------------------------

    def _checkout(
        self, origin: Origin, request: httpx.Request, connect_timeout: float | None
    ) -> http.client.HTTPConnection:
        while True:
            with self._lock:
                stack = self._idle.get(origin)
                if not stack:
                    break
                conn, since = stack.pop()
            if self._clock() - since < KEEPALIVE_EXPIRY and not _closed_by_peer(conn):
                return conn
            conn.close()
        return self._connect(origin, request, connect_timeout)

    def _checkin(self, origin: Origin, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            stack = self._idle.setdefault(origin, [])
            if not self._closed and len(stack) < self._max_idle:
                stack.append((conn, self._clock()))
                return
        conn.close()

    def _connect(
        self, origin: Origin, request: httpx.Request, timeout: float | None
    ) -> http.client.HTTPConnection:
        scheme, host, port = origin
        conn: http.client.HTTPConnection
        if scheme == "https":
            conn = http.client.HTTPSConnection(
                host, port, timeout=timeout, context=self._tls_context()
            )
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            conn.connect()
            assert conn.sock is not None
            for level, option, value in self._socket_options:
                conn.sock.setsockopt(level, option, value)
        except TimeoutError as exc:
            conn.close()
            raise httpx.ConnectTimeout(_describe(exc), request=request) from exc
        except OSError as exc:  # refused, unresolvable, TLS handshake failure, ...
            conn.close()
            raise httpx.ConnectError(_describe(exc), request=request) from exc
        return conn

    def _tls_context(self) -> ssl.SSLContext:
        with self._lock:
            if self._ssl_context is None:
                # httpx's own defaults: certifi's CA bundle, SSL_CERT_FILE / SSL_CERT_DIR.
                self._ssl_context = httpx.create_ssl_context()
            return self._ssl_context


def _exchange(
    conn: http.client.HTTPConnection, request: httpx.Request, timeouts: dict[str, float | None]
) -> tuple[int, str, list[tuple[bytes, bytes]], bytes, bool]:
    """Send `request` on `conn` and read the whole answer, as httpx errors on failure."""
    body = request.read()
    # httpx announces a body of unknown length (a stream) as chunked; read whole here, it
    # must still be sent in that framing, last chunk included, or the server misreads it.
    chunked = request.headers.get("Transfer-Encoding", "").lower() == "chunked"
    try:
        assert conn.sock is not None
        conn.sock.settimeout(timeouts.get("write"))
        conn.putrequest(
            request.method,
            request.url.raw_path.decode("ascii"),
            skip_host=True,  # httpx has set Host (and every other header) already
            skip_accept_encoding=True,
        )
        for name, value in request.headers.raw:
            conn.putheader(name, value)
        # Two writes, head then body (http.client does not join them), so without
        # TCP_NODELAY (see connect()) the body can wait for the ACK of the head.
        conn.endheaders(body if chunked else body or None, encode_chunked=chunked)
    except TimeoutError as exc:
        raise httpx.WriteTimeout(_describe(exc), request=request) from exc
    except _EXCHANGE_ERRORS as exc:
        raise httpx.WriteError(_describe(exc), request=request) from exc
    try:
        conn.sock.settimeout(timeouts.get("read"))
        response = conn.getresponse()
        content = response.read()
    except TimeoutError as exc:
        raise httpx.ReadTimeout(_describe(exc), request=request) from exc
    except http.client.HTTPException as exc:  # closed early, bad status line, cut body
        raise httpx.RemoteProtocolError(_describe(exc), request=request) from exc
    except OSError as exc:
        raise httpx.ReadError(_describe(exc), request=request) from exc
    headers = [
        (name.encode("latin-1"), value.encode("latin-1")) for name, value in response.getheaders()
    ]
    return response.status, response.reason, headers, content, not response.will_close


def _origin(url: httpx.URL) -> Origin:
    if url.scheme not in _PORTS:
        raise httpx.UnsupportedProtocol(f"unsupported URL scheme {url.scheme!r}")
    return url.scheme, url.host, url.port or _PORTS[url.scheme]


def _closed_by_peer(conn: http.client.HTTPConnection) -> bool:
    """An idle kept-alive socket that is readable has been closed (or spoken to out of
    turn) by the server: reusing it would fail a request that was never answered."""
    sock = conn.sock
    if sock is None:
        return True
    try:
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return bool(poller.poll(0))
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable)
    except (OSError, ValueError):
        return True


def _describe(exc: BaseException) -> str:
    if isinstance(exc, socket.gaierror):
        return f"name resolution failed: {exc.strerror or exc}"
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, http.client.HTTPException) else f"{type(exc).__name__}: {text}"
