"""The HTTP/1.1 transport under the control-plane client: an httpx transport on http.client.

httpx stays the client API (requests, responses, errors, MockTransport in tests); this
replaces only the connection layer below it. httpcore's pure-Python HTTP/1.1 machinery
cost about 1.6 ms of CPU per call with 32 workers sharing one interpreter lock, and the
apply of N creates became CPU-bound on it; the standard library's http.client costs
about a third of that (docs/performance.md). Connections are kept alive in a LIFO pool,
checked for a server-side close before reuse, and never reused after an error. No retry
happens here: whether a failed request may be sent again is the client's decision.

Every exchange has one deadline (connect, send and the whole answer): each socket read
waits only for the time left, so an answer dripped a byte at a time cannot outlive it.
An answer over `max_body` bytes (announced or counted, before or after gzip) is refused
without being read whole. Through an http:// proxy, HTTPS goes in a CONNECT tunnel and
plain HTTP in absolute form, as httpx does; `abort()` cuts every exchange in flight.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import http.client
import io
import select
import socket
import ssl
import threading
import time
import urllib.parse
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

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
DEFAULT_DEADLINE = 30.0
DEFAULT_MAX_BODY = 32 * 1024 * 1024
_CHUNK = 64 * 1024
# Content codings we can decode within the size cap (zlib's: 16+ gzip, - raw deflate).
_DECODERS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class AnswerRefused(httpx.RequestError):
    """The server answered, but the answer is unusable (too big, undecodable coding).

    Not a TransportError: it is no sign of a network fault, and nothing retries it.
    """


class AnswerTooLarge(AnswerRefused):
    """The answer is over the size cap; it was not read whole."""


class Deadline:
    """The moment an exchange must be over, and the seconds left until then."""

    __slots__ = ("_clock", "at", "read", "seconds")

    def __init__(
        self, seconds: float, clock: Callable[[], float], *, read: float | None = None
    ) -> None:
        self.seconds = seconds
        self.at = clock() + seconds
        self.read = read  # the longest one read may wait (httpx's read timeout)
        self._clock = clock

    def left(self) -> float:
        """Seconds left; raises TimeoutError once none are."""
        left = self.at - self._clock()
        if left <= 0:
            raise TimeoutError(self.message())
        return left

    def message(self) -> str:
        return (
            f"no whole answer within the {self.seconds:g} s deadline (TENSORMESH_TIMEOUT_SECONDS)"
        )

    def passed(self) -> bool:
        return self._clock() >= self.at

    def next_read(self) -> float:
        """How long the next read may wait: the read timeout, within the time left."""
        left = self.left()
        return left if self.read is None else min(self.read, left)


class KeepAliveTransport(httpx.BaseTransport):
    """HTTP/1.1 over http.client with kept-alive connections; thread-safe.

    `max_idle` bounds the connections kept for reuse (one per worker is enough); there
    is no bound on connections in use, since the caller's workers already bound that.
    `deadline` is the seconds one exchange may take in all; `proxy` an http:// proxy
    every connection goes through.
    """

    def __init__(
        self,
        *,
        max_idle: int = 8,
        socket_options: Iterable[tuple[int, int, int]] = (),
        ssl_context: ssl.SSLContext | None = None,
        clock: Callable[[], float] = time.monotonic,
        deadline: float = DEFAULT_DEADLINE,
        max_body: int = DEFAULT_MAX_BODY,
        proxy: httpx.Proxy | None = None,
    ) -> None:
        if proxy is not None and proxy.url.scheme != "http":
            raise ValueError("KeepAliveTransport speaks to http:// proxies only")
        self._max_idle = max_idle
        self._socket_options = tuple(socket_options)
        self._ssl_context = ssl_context
        self._clock = clock
        self._deadline = deadline
        self._max_body = max_body
        self._proxy = proxy
        self._proxy_headers = _proxy_headers(proxy)
        self._lock = threading.Lock()
        self._idle: dict[Origin, list[tuple[http.client.HTTPConnection, float]]] = {}
        self._busy: set[http.client.HTTPConnection] = set()
        self._closed = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        origin = _origin(request.url)
        timeouts = request.extensions.get("timeout", {})
        deadline = Deadline(self._deadline, self._clock, read=timeouts.get("read"))
        conn = self._checkout(origin, request, timeouts.get("connect"), deadline)
        try:
            status, reason, headers, content, reusable = self._exchange(
                conn, request, timeouts, deadline
            )
        except BaseException:
            conn.close()  # its state is unknown: never reuse it
            raise
        finally:
            with self._lock:
                self._busy.discard(conn)
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

    def abort(self) -> None:
        """Close, and cut every exchange in flight: a thread blocked reading an answer
        gets an error at once (used when the run is interrupted)."""
        self.close()
        with self._lock:
            busy = list(self._busy)
        for conn in busy:
            _shut_down(conn)

    @property
    def idle_connections(self) -> int:
        with self._lock:
            return sum(len(stack) for stack in self._idle.values())

    def _exchange(
        self,
        conn: http.client.HTTPConnection,
        request: httpx.Request,
        timeouts: dict[str, float | None],
        deadline: Deadline,
    ) -> tuple[int, str, list[tuple[bytes, bytes]], bytes, bool]:
        """Send `request` on `conn` and read the whole answer, as httpx errors on failure."""
        body = request.read()
        # httpx announces a body of unknown length (a stream) as chunked; read whole here, it
        # must still be sent in that framing, last chunk included, or the server misreads it.
        chunked = request.headers.get("Transfer-Encoding", "").lower() == "chunked"
        forward = self._proxy is not None and request.url.scheme == "http"
        try:
            assert conn.sock is not None
            conn.sock.settimeout(_within(timeouts.get("write"), deadline))
            conn.putrequest(
                request.method,
                # Through a proxy, plain HTTP names the whole URL (absolute form).
                _absolute(request.url) if forward else request.url.raw_path.decode("ascii"),
                skip_host=True,  # httpx has set Host (and every other header) already
                skip_accept_encoding=True,
            )
            for name, value in request.headers.raw:
                conn.putheader(name, value)
            if forward:
                for proxy_header, text in self._proxy_headers.items():
                    conn.putheader(proxy_header, text)
            # Two writes, head then body (http.client does not join them), so without
            # TCP_NODELAY (see connect()) the body can wait for the ACK of the head.
            conn.endheaders(body if chunked else body or None, encode_chunked=chunked)
        except TimeoutError as exc:
            text = deadline.message() if deadline.passed() else _describe(exc)
            raise httpx.WriteTimeout(text, request=request) from exc
        except _EXCHANGE_ERRORS as exc:
            raise httpx.WriteError(_describe(exc), request=request) from exc
        except ValueError:
            # http.client refuses CR/LF in a header; its message quotes the value, which
            # may be a credential: say which rule broke, not what broke it.
            raise httpx.LocalProtocolError(
                "a request header holds a character HTTP does not allow", request=request
            ) from None
        try:
            response = conn.getresponse()
            content = _read_body(response, self._max_body, request)
        except TimeoutError as exc:
            text = deadline.message() if deadline.passed() else _describe(exc)
            raise httpx.ReadTimeout(text, request=request) from exc
        except http.client.HTTPException as exc:  # closed early, bad status line, cut body
            raise httpx.RemoteProtocolError(_describe(exc), request=request) from exc
        except OSError as exc:
            raise httpx.ReadError(_describe(exc), request=request) from exc
        headers = [
            (name.encode("latin-1"), value.encode("latin-1"))
            for name, value in response.getheaders()
            if not (name.lower() == "content-encoding" and value.strip().lower() in _DECODERS)
        ]
        return response.status, response.reason, headers, content, not response.will_close

    # -- the pool -----------------------------------------------------------------

    def _checkout(
        self,
        origin: Origin,
        request: httpx.Request,
        connect_timeout: float | None,
        deadline: Deadline,
    ) -> http.client.HTTPConnection:
        while True:
            with self._lock:
                if self._closed:
                    raise httpx.ConnectError("the client was closed", request=request)
                stack = self._idle.get(origin)
                if not stack:
                    break
                conn, since = stack.pop()
            if self._clock() - since < KEEPALIVE_EXPIRY and not _closed_by_peer(conn):
                self._use(conn, deadline)
                return conn
            conn.close()
        conn = self._connect(origin, request, connect_timeout, deadline)
        self._use(conn, deadline)
        return conn

    def _use(self, conn: http.client.HTTPConnection, deadline: Deadline) -> None:
        # Every answer read on this connection (and a tunnel's) waits only for the time left.
        conn.response_class = functools.partial(_DeadlineResponse, deadline=deadline)  # type: ignore[assignment]
        with self._lock:
            self._busy.add(conn)

    def _checkin(self, origin: Origin, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            stack = self._idle.setdefault(origin, [])
            if not self._closed and len(stack) < self._max_idle:
                stack.append((conn, self._clock()))
                return
        conn.close()

    def _connect(
        self, origin: Origin, request: httpx.Request, timeout: float | None, deadline: Deadline
    ) -> http.client.HTTPConnection:
        scheme, host, port = origin
        try:
            left = deadline.left()
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(str(exc), request=request) from exc
        timeout = left if timeout is None else min(timeout, left)
        # Through a proxy: TCP to the proxy; HTTPS then tunnels to the API (CONNECT).
        dial_host, dial_port = (host, port)
        if self._proxy is not None:
            dial_host, dial_port = _origin(self._proxy.url)[1:]
        conn: http.client.HTTPConnection
        if scheme == "https":
            conn = http.client.HTTPSConnection(
                dial_host, dial_port, timeout=timeout, context=self._tls_context()
            )
            if self._proxy is not None:
                conn.set_tunnel(host, port, headers=self._proxy_headers)
        else:
            conn = http.client.HTTPConnection(dial_host, dial_port, timeout=timeout)
        conn.response_class = functools.partial(_DeadlineResponse, deadline=deadline)  # type: ignore[assignment]
        try:
            conn.connect()
            assert conn.sock is not None
            for level, option, value in self._socket_options:
                conn.sock.setsockopt(level, option, value)
        except TimeoutError as exc:
            conn.close()
            raise httpx.ConnectTimeout(self._via(_describe(exc)), request=request) from exc
        except OSError as exc:  # refused, unresolvable, TLS handshake failure, ...
            conn.close()
            raise httpx.ConnectError(self._via(_describe(exc)), request=request) from exc
        return conn

    def _via(self, text: str) -> str:
        """`text`, naming the proxy when there is one (never its credentials): a failed
        connection through a proxy is the proxy's to fix, or NO_PROXY's."""
        if self._proxy is None:
            return text
        url = self._proxy.url
        return (
            f"through the proxy {url.scheme}://{url.host}:{url.port} (from HTTPS_PROXY, "
            f"HTTP_PROXY or ALL_PROXY; NO_PROXY bypasses it): {text}"
        )

    def _tls_context(self) -> ssl.SSLContext:
        with self._lock:
            if self._ssl_context is None:
                # httpx's own defaults: certifi's CA bundle, SSL_CERT_FILE / SSL_CERT_DIR.
                self._ssl_context = httpx.create_ssl_context()
            return self._ssl_context


class BoundedTransport(httpx.BaseTransport):
    """Another transport (httpx's, for https:// and SOCKS proxies) held to the body cap
    and, between the answer's chunks, to the deadline (each read also waits at most the
    read timeout, so the overshoot is at most one read timeout)."""

    def __init__(
        self,
        inner: httpx.BaseTransport,
        *,
        deadline: float = DEFAULT_DEADLINE,
        max_body: int = DEFAULT_MAX_BODY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._inner = inner
        self._deadline = deadline
        self._max_body = max_body
        self._clock = clock

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        deadline = Deadline(self._deadline, self._clock)
        response = self._inner.handle_request(request)
        try:
            length = response.headers.get("Content-Length", "")
            if length.isdigit() and int(length) > self._max_body:
                raise AnswerTooLarge(
                    f"the answer announces {length} bytes, over the {self._max_body}-byte cap",
                    request=request,
                )
            coding = response.headers.get("Content-Encoding", "identity").strip().lower()
            if coding not in _DECODERS and coding != "identity":
                raise AnswerRefused(
                    f"the answer is in an unsupported coding {coding[:40]!r}", request=request
                )
            content = _capped(
                _in_time(response.stream, deadline, request), self._max_body, coding, request
            )
        finally:
            response.close()
        headers = [(k, v) for k, v in response.headers.raw if k.lower() != b"content-encoding"]
        return httpx.Response(
            response.status_code,
            headers=headers,
            stream=httpx.ByteStream(content),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._inner.close()

    def abort(self) -> None:
        self._inner.close()


def _in_time(
    stream: httpx.SyncByteStream | Any, deadline: Deadline, request: httpx.Request
) -> Iterator[bytes]:
    for chunk in stream:
        try:
            deadline.left()
        except TimeoutError as exc:
            raise httpx.ReadTimeout(str(exc), request=request) from exc
        yield chunk


class _DeadlineReader(socket.SocketIO):
    """A socket's reads, each waiting only for what is left of the exchange's deadline."""

    def __init__(self, sock: socket.socket, deadline: Deadline) -> None:
        super().__init__(sock, "rb")
        # As socket.makefile() does: the socket really closes only once this reader is
        # closed too (http.client closes the connection before reading a body to EOF).
        sock._io_refs += 1  # type: ignore[attr-defined]
        self._deadline = deadline

    def readinto(self, buffer: Any) -> int | None:
        self._sock.settimeout(self._deadline.next_read())  # type: ignore[attr-defined]
        return super().readinto(buffer)


class _DeadlineSocket:
    """What HTTPResponse asks of a socket (`makefile`), over a deadline-bound reader."""

    def __init__(self, sock: socket.socket, deadline: Deadline) -> None:
        self._sock = sock
        self._deadline = deadline

    def makefile(self, mode: str) -> io.BufferedReader:
        del mode
        return io.BufferedReader(_DeadlineReader(self._sock, self._deadline), _CHUNK)


class _DeadlineResponse(http.client.HTTPResponse):
    def __init__(
        self,
        sock: socket.socket,
        debuglevel: int = 0,
        method: str | None = None,
        url: str | None = None,
        *,
        deadline: Deadline,
    ) -> None:
        super().__init__(_DeadlineSocket(sock, deadline), debuglevel, method, url)  # type: ignore[arg-type]


def _read_body(response: http.client.HTTPResponse, max_body: int, request: httpx.Request) -> bytes:
    """The whole body, decoded if gzip/deflate; refused as soon as it is known to be too big."""
    if response.length is not None and response.length > max_body:
        raise AnswerTooLarge(
            f"the answer announces {response.length} bytes, over the {max_body}-byte cap",
            request=request,
        )
    coding = (response.getheader("Content-Encoding") or "identity").strip().lower()
    if coding not in _DECODERS and coding != "identity":
        raise AnswerRefused(
            f"the answer is in an unsupported coding {coding[:40]!r}", request=request
        )
    if response.length is not None and coding == "identity":
        return response.read()  # announced, within the cap: the common case, one read
    return _capped(_chunks(response), max_body, coding, request)


def _chunks(response: http.client.HTTPResponse) -> Iterator[bytes]:
    while chunk := response.read(_CHUNK):
        yield chunk


def _capped(chunks: Iterable[bytes], max_body: int, coding: str, request: httpx.Request) -> bytes:
    """Join `chunks` (decoding `coding`), refusing them once more than `max_body` bytes come
    out, so neither a long body nor a small compressed bomb is ever held whole."""
    decoder = zlib.decompressobj(_DECODERS[coding]) if coding in _DECODERS else None
    parts: list[bytes] = []
    size = 0
    for chunk in chunks:
        if decoder is not None:
            try:
                chunk = decoder.decompress(chunk, max_body + 1 - size)
            except zlib.error as exc:
                raise AnswerRefused(
                    f"the {coding} answer is corrupt ({exc})", request=request
                ) from exc
        size += len(chunk)
        if size > max_body or (decoder is not None and decoder.unconsumed_tail):
            raise AnswerTooLarge(f"the answer is over the {max_body}-byte cap", request=request)
        parts.append(chunk)
    return b"".join(parts)


def _within(timeout: float | None, deadline: Deadline) -> float:
    left = deadline.left()
    return left if timeout is None else min(timeout, left)


def _absolute(url: httpx.URL) -> str:
    port = f":{url.port}" if url.port else ""
    return f"{url.scheme}://{url.raw_host.decode('ascii')}{port}{url.raw_path.decode('ascii')}"


def _proxy_headers(proxy: httpx.Proxy | None) -> dict[str, str]:
    if proxy is None or proxy.auth is None:
        return {}
    user, password = proxy.auth
    pair = f"{urllib.parse.unquote(user)}:{urllib.parse.unquote(password)}"
    return {"Proxy-Authorization": "Basic " + base64.b64encode(pair.encode()).decode("ascii")}


def _shut_down(conn: http.client.HTTPConnection) -> None:
    sock = conn.sock
    if sock is None:
        return
    # The plain socket's shutdown, not SSLSocket's: wake a blocked read at once
    # without touching the TLS state another thread is using.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


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
