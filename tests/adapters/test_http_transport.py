"""KeepAliveTransport against real local HTTP/1.1 servers on 127.0.0.1.

Every test drives an httpx.Client over the transport to a ThreadingHTTPServer run in a
daemon thread, which counts the connections it accepts and records every request it
reads; nothing in the module under test is patched. Covers connection reuse and its
limits (Connection: close, a server-side close while idle, keep-alive expiry, the idle
bound, close()), the mapping of failures to httpx errors and through `connect()` to the
project's errors, decoding, and TLS.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import gzip
import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, cast

import httpx
import pytest

from reconciler.adapters.http_api import connect
from reconciler.adapters.http_transport import KEEPALIVE_EXPIRY, KeepAliveTransport
from reconciler.core.errors import ApiTimeoutError, ApiUnreachableError
from reconciler.core.model import DeployRequest
from tests.support.clock import FakeClock

TOKEN = "tok-x"
ENV = {"TENSORMESH_CONTROL_PLANE_TOKEN": TOKEN}
USER = "3f0c6d2e-0000-4000-8000-000000000001"
# Long enough never to fire in a passing test; each test is over well before it.
TIMEOUT = httpx.Timeout(5.0)


# -- the local server --------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """A request as the server read it off the wire."""

    method: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    connection: int  # 0-based, in the order the server accepted connections

    def values(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]


@dataclass(frozen=True)
class Answer:
    """What the server does with a request."""

    status: int = 200
    body: bytes = b"{}"
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),)
    reason: str | None = None
    content_length: bool = True  # without it (nor chunking) the body ends at the close
    hang_up: bool = False  # close the connection without answering
    close_after: bool = False  # close the connection after answering, without saying so
    wait_for: threading.Event | None = None  # hold the answer until this is set (max 5 s)


def json_answer(
    body: Any, *, status: int = 200, headers: dict[str, str] | None = None, **fields: Any
) -> Answer:
    extra = tuple((headers or {}).items())
    return Answer(
        status=status,
        body=json.dumps(body).encode(),
        headers=(("Content-Type", "application/json"), *extra),
        **fields,
    )


def echo(request: Received) -> Answer:
    return json_answer({"method": request.method, "path": request.path})


Route = Callable[[Received], Answer]


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, owner: LocalServer) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        if self.owner.tls is not None:
            # The handshake happens in the handler thread, so a client that rejects the
            # certificate cannot stall the accept loop.
            sock = self.owner.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        self.owner.accepted(sock)
        return sock, address

    def shutdown_request(self, request: Any) -> None:
        super().shutdown_request(request)
        self.owner.closed_by_server()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up first (a timeout test) is expected, not news


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive unless told otherwise
    disable_nagle_algorithm = True  # its header and body writes must not wait ~40 ms

    def owner(self) -> LocalServer:
        return cast(_HttpServer, self.server).owner

    def handle(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            try:
                self.request.do_handshake()
            except OSError:
                return  # the client refused our certificate
        super().handle()

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.owner().handler_finished()

    def _serve(self) -> None:
        owner = self.owner()
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = self._read_chunks()
        else:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
        received = Received(
            method=self.command,
            path=self.path,
            headers=tuple(self.headers.items()),
            body=body,
            connection=owner.connection_id(self.request),
        )
        answer = owner.answer(received)
        if answer.wait_for is not None:
            answer.wait_for.wait(5.0)
        if answer.hang_up:
            self.close_connection = True
            return
        self.send_response(answer.status, answer.reason)
        for name, value in answer.headers:
            self.send_header(name, value)
        if answer.content_length:
            self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)
        chunked = any(
            name.lower() == "transfer-encoding" and value == "chunked"
            for name, value in answer.headers
        )
        if answer.close_after or not (answer.content_length or chunked):
            self.close_connection = True

    def _read_chunks(self) -> bytes:
        body = b""
        while size := int(self.rfile.readline().split(b";")[0], 16):  # ValueError: not chunked
            body += self.rfile.read(size)
            self.rfile.readline()  # the CRLF closing the chunk
        while self.rfile.readline().strip():
            pass  # trailers, up to the empty line
        return body

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass


class LocalServer:
    """A keep-alive HTTP/1.1 server on 127.0.0.1 (port 0) in a daemon thread."""

    def __init__(self, route: Route = echo, *, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls
        self.requests: list[Received] = []
        self.connections = 0  # accepted
        self.finished = 0  # handlers that ended: the client's EOF, or the server closed
        self.closed = 0  # connections the server itself closed
        self.release = threading.Event()  # set on exit: lets held answers go
        self._route = route
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._httpd = _HttpServer(self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def paths(self) -> list[str]:
        with self._lock:
            return [request.path for request in self.requests]

    def __enter__(self) -> LocalServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:  # unblock handlers still waiting on kept-alive connections
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5)

    # -- called from the server's threads ----------------------------------------------

    def accepted(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            self.connections += 1

    def connection_id(self, sock: socket.socket) -> int:
        with self._lock:
            return next(i for i, known in enumerate(self._sockets) if known is sock)

    def answer(self, request: Received) -> Answer:
        with self._lock:
            self.requests.append(request)
        return self._route(request)

    def handler_finished(self) -> None:
        with self._lock:
            self.finished += 1

    def closed_by_server(self) -> None:
        with self._lock:
            self.closed += 1


@contextlib.contextmanager
def no_socket_left_unclosed() -> Iterator[None]:
    """Fails if a socket is garbage-collected open inside the block: a connection the
    transport dropped instead of closing (CPython closes it anyway, but warns)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        yield
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


def wait_until(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not become true in time")
        time.sleep(0.005)


def in_threads(*calls: Callable[[], object]) -> None:
    """Run each call on its own thread, all at once, and wait for them."""
    threads = [threading.Thread(target=call) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)


@pytest.fixture
def client_for() -> Iterator[Callable[..., httpx.Client]]:
    """Builds clients over a KeepAliveTransport; closes them after the test."""
    made: list[httpx.Client] = []

    def build(
        server: LocalServer, transport: KeepAliveTransport, timeout: httpx.Timeout = TIMEOUT
    ) -> httpx.Client:
        client = httpx.Client(base_url=server.url, transport=transport, timeout=timeout)
        made.append(client)
        return client

    yield build
    for client in made:
        client.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# -- keep-alive ----------------------------------------------------------------------------


def test_a_connection_is_reused_for_sequential_requests_which_arrive_as_sent(
    client_for: Callable[..., httpx.Client],
) -> None:
    def route(request: Received) -> Answer:
        return json_answer(
            {"path": request.path, "n": len(request.path)},
            status=201,
            headers={"X-Request-Id": f"req-{request.path}"},
            reason="Made It",
        )

    methods = ["POST", "GET", "PUT", "DELETE", "PATCH", "HEAD"]
    transport = KeepAliveTransport()
    with LocalServer(route) as server:
        client = client_for(server, transport)
        for i in range(30):
            method = methods[i % len(methods)]
            path = f"/v1/models/m-{i}?userId=u-{i}&tag=a%2Fb"
            payload = {"i": i, "modelName": "llama-8b-chat", "note": "caf\u00e9"}
            has_body = method in {"POST", "PUT", "PATCH"}
            response = client.request(
                method,
                path,
                json=payload if has_body else None,
                headers={"Authorization": f"Bearer tok-{i}", "X-Trace": "t-1"},
            )

            assert response.status_code == 201
            assert response.reason_phrase == "Made It"
            assert response.http_version == "HTTP/1.1"
            assert response.headers["x-request-id"] == f"req-{path}"
            assert response.headers["content-type"] == "application/json"
            if method == "HEAD":
                assert response.content == b""
            else:
                assert response.json() == {"path": path, "n": len(path)}

            received = server.requests[-1]
            assert received.method == method
            assert received.path == path
            assert received.values("Host") == [server.host]  # exactly one Host header
            assert received.values("Authorization") == [f"Bearer tok-{i}"]
            assert received.values("X-Trace") == ["t-1"]
            if has_body:
                assert received.values("Content-Type") == ["application/json"]
                assert received.values("Content-Length") == [str(len(received.body))]
                assert received.body == response.request.content
                assert json.loads(received.body) == payload
            else:
                assert received.body == b""
                assert received.values("Content-Length") == []
        assert len(server.requests) == 30
        assert server.connections == 1
        assert {request.connection for request in server.requests} == {0}
        assert transport.idle_connections == 1


@pytest.mark.parametrize("max_idle", [8, 3])
def test_threads_share_the_pool_and_the_idle_connections_are_bounded(
    client_for: Callable[..., httpx.Client], max_idle: int
) -> None:
    threads_count, per_thread = 8, 15
    # The first request of every thread is held until all 8 are in flight, so 8
    # connections are open at once and all come back to the pool together.
    everyone_in = threading.Barrier(threads_count)
    seen = threading.Semaphore(threads_count)

    def route(request: Received) -> Answer:
        if seen.acquire(blocking=False):
            everyone_in.wait(timeout=5)
        return echo(request)

    transport = KeepAliveTransport(max_idle=max_idle)
    errors: list[BaseException] = []
    wrong: list[str] = []
    with LocalServer(route) as server:
        client = client_for(server, transport)

        def work(worker: int) -> None:
            try:
                for i in range(per_thread):
                    path = f"/w/{worker}/{i}"
                    body = client.get(path).raise_for_status().json()
                    if body["path"] != path:  # an answer meant for another thread
                        wrong.append(f"{path} got {body['path']}")
            except BaseException as exc:
                errors.append(exc)

        in_threads(*(functools.partial(work, n) for n in range(threads_count)))

        assert errors == []
        assert wrong == []
        assert len(server.requests) == threads_count * per_thread
        assert transport.idle_connections == min(max_idle, threads_count)
        if max_idle >= threads_count:
            assert server.connections == threads_count  # nothing closed, nothing extra
        else:
            # The connections over the bound were closed, not kept: the server saw their EOF.
            assert server.connections >= threads_count
            wait_until(lambda: server.finished == server.connections - transport.idle_connections)


def test_the_most_recently_used_idle_connection_is_reused_first(
    client_for: Callable[..., httpx.Client],
) -> None:
    both_in = threading.Barrier(2)
    seen = threading.Semaphore(2)

    def route(request: Received) -> Answer:
        if seen.acquire(blocking=False):
            both_in.wait(timeout=5)  # two connections open at once
        return echo(request)

    transport = KeepAliveTransport()
    with LocalServer(route) as server:
        client = client_for(server, transport)
        in_threads(*(functools.partial(client.get, f"/{n}") for n in range(2)))
        assert transport.idle_connections == 2
        for i in range(6):
            client.get(f"/seq/{i}").raise_for_status()
        # LIFO: one connection stays warm and the other ages towards its expiry.
        sequential = [request.connection for request in server.requests[2:]]
        assert len(set(sequential)) == 1
        assert server.connections == 2


def test_connections_are_pooled_per_origin(client_for: Callable[..., httpx.Client]) -> None:
    transport = KeepAliveTransport()
    with LocalServer() as first, LocalServer() as second:
        client = client_for(first, transport)
        for i in range(4):
            assert client.get(f"{first.url}/a/{i}").json()["path"] == f"/a/{i}"
            assert client.get(f"{second.url}/b/{i}").json()["path"] == f"/b/{i}"
        assert first.paths == [f"/a/{i}" for i in range(4)]
        assert second.paths == [f"/b/{i}" for i in range(4)]
        assert (first.connections, second.connections) == (1, 1)
        assert transport.idle_connections == 2


def test_a_response_with_connection_close_is_not_reused(
    client_for: Callable[..., httpx.Client],
) -> None:
    def route(request: Received) -> Answer:
        if request.path == "/closing":
            return Answer(body=b'{"bye": true}', headers=(("Connection", "close"),))
        return echo(request)

    transport = KeepAliveTransport()
    with LocalServer(route) as server:
        client = client_for(server, transport)
        assert client.get("/first").json()["path"] == "/first"
        response = client.get("/closing")
        assert response.json() == {"bye": True}
        assert response.headers["connection"] == "close"
        assert transport.idle_connections == 0  # not put back
        assert client.get("/after").json()["path"] == "/after"
        assert server.paths == ["/first", "/closing", "/after"]
        assert server.connections == 2
        assert [request.connection for request in server.requests] == [0, 0, 1]


def test_a_body_delimited_by_the_end_of_the_connection_is_read_whole(
    client_for: Callable[..., httpx.Client],
) -> None:
    body = b"x" * 200_000

    def route(request: Received) -> Answer:
        if request.path == "/unsized":
            return Answer(
                body=body, headers=(("Content-Type", "text/plain"),), content_length=False
            )
        return echo(request)

    transport = KeepAliveTransport()
    with LocalServer(route) as server:
        client = client_for(server, transport)
        assert client.get("/unsized").content == body
        assert transport.idle_connections == 0  # its end was the connection's end
        assert client.get("/next").json()["path"] == "/next"
        assert server.connections == 2


def test_a_chunked_response_is_decoded_and_its_connection_reused(
    client_for: Callable[..., httpx.Client],
) -> None:
    def route(request: Received) -> Answer:
        if request.path == "/chunked":
            chunks = b'5\r\n{"a":\r\n3\r\n 1}\r\n0\r\n\r\n'
            return Answer(
                body=chunks,
                headers=(("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")),
                content_length=False,
            )
        return echo(request)

    transport = KeepAliveTransport()
    with LocalServer(route) as server:
        client = client_for(server, transport)
        response = client.get("/chunked")
        assert response.json() == {"a": 1}
        assert response.content == b'{"a": 1}'
        assert client.get("/next").json()["path"] == "/next"
        assert server.connections == 1  # the last chunk, not a close, ended the body


def test_a_streamed_request_body_is_sent_in_chunked_framing(
    client_for: Callable[..., httpx.Client],
) -> None:
    transport = KeepAliveTransport()
    with LocalServer() as server:
        # Short: unframed, the body would leave the server waiting for a chunk size line.
        client = client_for(server, transport, httpx.Timeout(1.0))
        parts = [b'{"streamed": ', b"true}"]
        response = client.post("/upload", content=iter(parts))
        assert response.json() == {"method": "POST", "path": "/upload"}
        for content in (iter([b"ab", b"cd"]), iter([])):
            client.put("/more", content=content).raise_for_status()
        received = server.requests
        assert received[0].values("Transfer-Encoding") == ["chunked"]
        assert received[0].values("Content-Length") == []
        assert [request.body for request in received] == [b'{"streamed": true}', b"abcd", b""]
        assert server.connections == 1  # each body ended where its framing said


def test_an_idle_connection_closed_by_the_server_is_not_reused(
    client_for: Callable[..., httpx.Client],
) -> None:
    def route(request: Received) -> Answer:
        # Answered as kept alive, then closed: like a server's idle timeout firing.
        close_after = request.path == "/then-close"
        return json_answer({"path": request.path}, close_after=close_after)

    transport = KeepAliveTransport()
    with LocalServer(route) as server:
        client = client_for(server, transport)
        assert client.get("/then-close").json()["path"] == "/then-close"
        assert transport.idle_connections == 1  # nothing said it would close
        wait_until(lambda: server.closed == 1)
        time.sleep(0.05)  # the FIN crosses loopback
        with no_socket_left_unclosed():
            assert client.get("/next").json()["path"] == "/next"
        assert server.paths == ["/then-close", "/next"]  # each exactly once
        assert server.connections == 2
        assert transport.idle_connections == 1


def test_an_idle_connection_past_the_keepalive_expiry_is_not_reused(
    client_for: Callable[..., httpx.Client],
) -> None:
    clock = FakeClock()
    transport = KeepAliveTransport(clock=clock)
    with LocalServer() as server:
        client = client_for(server, transport)
        client.get("/a").raise_for_status()
        clock.sleep(KEEPALIVE_EXPIRY - 0.1)
        client.get("/b").raise_for_status()  # idle since the last answer, not the first
        assert server.connections == 1
        clock.sleep(KEEPALIVE_EXPIRY)
        with no_socket_left_unclosed():
            client.get("/c").raise_for_status()
        assert server.connections == 2
        assert [request.connection for request in server.requests] == [0, 0, 1]
        wait_until(lambda: server.finished == 1)  # the expired one was closed, not leaked
        assert transport.idle_connections == 1


# -- failures ------------------------------------------------------------------------------


def test_a_request_the_server_drops_unanswered_is_a_protocol_error_and_not_retried(
    client_for: Callable[..., httpx.Client],
) -> None:
    def route(request: Received) -> Answer:
        return Answer(hang_up=True) if request.path == "/drop" else echo(request)

    transport = KeepAliveTransport()
    with LocalServer(route) as server:
        client = client_for(server, transport)
        client.get("/ok").raise_for_status()
        with pytest.raises(httpx.TransportError) as caught:
            client.post("/drop", json={"create": "once"})
        assert type(caught.value) is httpx.RemoteProtocolError
        assert "closed connection without response" in str(caught.value)
        assert server.paths == ["/ok", "/drop"]  # sent once, on the kept-alive connection
        assert transport.idle_connections == 0  # the broken connection is not pooled
        client.get("/after").raise_for_status()
        assert server.connections == 2


def test_a_body_cut_short_by_the_server_is_a_protocol_error(
    client_for: Callable[..., httpx.Client],
) -> None:
    def route(request: Received) -> Answer:
        # Announces 1000 bytes, sends 10, closes.
        return Answer(body=b"0123456789", headers=(("Content-Length", "1000"),), close_after=True)

    transport = KeepAliveTransport()
    with LocalServer(route) as server:
        client = client_for(server, transport)
        with pytest.raises(httpx.TransportError) as caught:
            client.get("/cut")
        assert type(caught.value) is httpx.RemoteProtocolError
        assert "IncompleteRead" in str(caught.value)
        assert server.paths == ["/cut"]
        assert transport.idle_connections == 0


def test_an_answer_later_than_the_read_timeout_is_a_read_timeout(
    client_for: Callable[..., httpx.Client],
) -> None:
    def route(request: Received) -> Answer:
        return Answer(wait_for=server.release) if request.path == "/slow" else echo(request)

    transport = KeepAliveTransport()
    with LocalServer(route) as server:
        client = client_for(server, transport, httpx.Timeout(0.2))
        client.get("/fast").raise_for_status()
        started = time.monotonic()
        with pytest.raises(httpx.TimeoutException) as caught:
            client.get("/slow")
        assert type(caught.value) is httpx.ReadTimeout
        assert time.monotonic() - started < 2.0
        assert server.paths == ["/fast", "/slow"]
        assert transport.idle_connections == 0  # its late answer must not be read later


def test_a_deploy_answered_too_late_is_an_outcome_unknown_timeout() -> None:
    def route(request: Received) -> Answer:
        return Answer(wait_for=server.release)

    request = DeployRequest(
        model_name="llama-8b-chat",
        user_id=USER,
        spec={"modelPath": "meta-llama/Llama-3.1-8B-Instruct", "gpuCount": 1},
        secrets={"hfToken": "hf_submitted_0a1b2c3d"},
    )
    with LocalServer(route) as server:
        api = connect(server.url, concurrency=2, timeout=0.2, environ=ENV)
        with api, pytest.raises(ApiTimeoutError) as caught:
            api.deploy_model(request)
        text = str(caught.value)
        assert text.startswith("POST /v1/models (deploy llama-8b-chat) failed")
        assert "outcome unknown" in text
        assert "ReadTimeout" in text
        assert [(r.method, r.path) for r in server.requests] == [("POST", "/v1/models")]


def test_a_closed_port_is_a_connect_error() -> None:
    port = closed_port()
    with httpx.Client(transport=KeepAliveTransport(), timeout=TIMEOUT) as client:
        with pytest.raises(httpx.TransportError) as caught:
            client.get(f"http://127.0.0.1:{port}/x")
        assert type(caught.value) is httpx.ConnectError
        assert "ConnectionRefusedError" in str(caught.value)


def test_a_closed_port_is_unreachable_through_connect() -> None:
    port = closed_port()
    env = {**ENV, "TENSORMESH_RETRY_BUDGET": "0"}
    api = connect(f"http://127.0.0.1:{port}", concurrency=2, timeout=0.2, environ=env)
    with api, pytest.raises(ApiUnreachableError) as caught:
        api.whoami()
    assert type(caught.value) is ApiUnreachableError  # not ApiTimeoutError: nothing was sent
    text = str(caught.value)
    assert text.startswith("GET /auth/profile (who am I) failed: no connection")
    assert TOKEN not in text


def test_an_unsupported_scheme_is_refused() -> None:
    client = httpx.Client(transport=KeepAliveTransport(), timeout=TIMEOUT)
    with client, pytest.raises(httpx.UnsupportedProtocol, match="ftp"):
        client.get("ftp://127.0.0.1:21/file")


# -- decoding and TLS ----------------------------------------------------------------------


def test_a_gzip_encoded_body_is_decoded(client_for: Callable[..., httpx.Client]) -> None:
    document = {"models": [{"modelId": f"m-{i}"} for i in range(50)]}
    packed = gzip.compress(json.dumps(document).encode())

    def route(request: Received) -> Answer:
        return Answer(
            body=packed,
            headers=(("Content-Type", "application/json"), ("Content-Encoding", "gzip")),
        )

    transport = KeepAliveTransport()
    with LocalServer(route) as server:
        client = client_for(server, transport)
        response = client.get("/v1/models")
        assert response.json() == document
        response = client.get("/v1/models")  # the compressed length framed the body
        assert response.json() == document
        # httpx's Accept-Encoding only: http.client must not add its own "identity".
        accept = server.requests[0].values("Accept-Encoding")
        assert len(accept) == 1
        assert "gzip" in accept[0]
        assert server.connections == 1


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("no openssl command to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    options = "-x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost"
    names = "subjectAltName=IP:127.0.0.1,DNS:localhost"
    subprocess.run(
        ["openssl", "req", *options.split(), "-addext", names, "-keyout", key, "-out", cert],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return cert, key


def server_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context


def test_https_is_verified_against_the_given_context_and_reused(
    client_for: Callable[..., httpx.Client], certificate: tuple[Path, Path]
) -> None:
    cert, _ = certificate
    transport = KeepAliveTransport(ssl_context=ssl.create_default_context(cafile=str(cert)))
    with LocalServer(tls=server_tls(certificate)) as server:
        assert server.url.startswith("https://")
        client = client_for(server, transport)
        for i in range(5):
            response = client.post(f"/tls/{i}", json={"i": i})
            assert response.json() == {"method": "POST", "path": f"/tls/{i}"}
        assert server.connections == 1
        assert json.loads(server.requests[-1].body) == {"i": 4}


def test_https_with_an_untrusted_certificate_fails_to_connect(
    client_for: Callable[..., httpx.Client], certificate: tuple[Path, Path]
) -> None:
    transport = KeepAliveTransport()  # httpx's default trust store: not our certificate
    with LocalServer(tls=server_tls(certificate)) as server:
        client = client_for(server, transport)
        with pytest.raises(httpx.TransportError) as caught:
            client.get("/secret")
        assert type(caught.value) is httpx.ConnectError
        assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)
        assert server.requests == []
        assert transport.idle_connections == 0


# -- closing -------------------------------------------------------------------------------


def test_close_closes_the_idle_connections(client_for: Callable[..., httpx.Client]) -> None:
    transport = KeepAliveTransport()
    barrier = threading.Barrier(3)
    seen = threading.Semaphore(3)

    def route(request: Received) -> Answer:
        if seen.acquire(blocking=False):
            barrier.wait(timeout=5)  # three connections open at once
        return echo(request)

    with LocalServer(route) as server:
        client = client_for(server, transport)
        in_threads(*(functools.partial(client.get, f"/{n}") for n in range(3)))
        assert transport.idle_connections == 3
        assert server.finished == 0
        with no_socket_left_unclosed():
            transport.close()
        assert transport.idle_connections == 0
        wait_until(lambda: server.finished == 3)  # the server read EOF on each


def test_a_connection_checked_in_after_close_is_closed(
    client_for: Callable[..., httpx.Client],
) -> None:
    go = threading.Event()

    def route(request: Received) -> Answer:
        return Answer(body=b'{"late": true}', wait_for=go)

    transport = KeepAliveTransport()
    results: list[httpx.Response] = []
    with LocalServer(route) as server:
        client = client_for(server, transport)
        thread = threading.Thread(target=lambda: results.append(client.get("/in-flight")))
        thread.start()
        try:
            wait_until(lambda: len(server.paths) == 1)
            transport.close()
        finally:
            go.set()
        thread.join(timeout=10)
        assert [response.json() for response in results] == [{"late": True}]
        assert transport.idle_connections == 0
        wait_until(lambda: server.finished == 1)  # closed by the client, not kept


# -- connect() -----------------------------------------------------------------------------


def test_connect_keeps_one_connection_alive_per_worker() -> None:
    workers = 2
    everyone_in = threading.Barrier(4)
    seen = threading.Semaphore(4)

    def route(request: Received) -> Answer:
        if request.path == "/auth/profile" and seen.acquire(blocking=False):
            everyone_in.wait(timeout=5)
        return json_answer({"user": {"id": USER}})

    with LocalServer(route) as server:
        api = connect(server.url, concurrency=workers, timeout=5.0, environ=ENV)
        with api:
            transport = api._client._transport
            assert isinstance(transport, KeepAliveTransport)
            # Four calls at once need four connections; only one per worker is kept.
            errors: list[BaseException] = []

            def call() -> None:
                try:
                    assert api.whoami() == USER
                except BaseException as exc:
                    errors.append(exc)

            in_threads(call, call, call, call)
            assert errors == []
            assert server.connections == 4
            assert transport.idle_connections == workers
            # Sequential calls reuse one kept-alive connection: no new connection at all.
            for _ in range(10):
                assert api.whoami() == USER
            assert server.connections == 4
            last = server.requests[-1]
            assert last.values("Authorization") == [f"Bearer {TOKEN}"]
            assert last.values("Accept") == ["application/json"]
            assert last.values("User-Agent")[0].startswith("tensormesh-reconciler/")
        assert api._client.is_closed
        assert transport.idle_connections == 0  # closing the api closed the pool
