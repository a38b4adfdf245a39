"""A loopback HTTP/1.1 server that answers like a hostile control plane, for tests.

Each request goes to a `Behaviour`: a function given the parsed request and the raw
socket, which writes whatever it likes (a dripped answer, a huge body, bad JSON, a
redirect, hostile IDs) or nothing at all. Threads are daemons; `close()` (or leaving the
`with` block) shuts every connection, so a test never waits for a hanging answer.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any


@dataclass(frozen=True)
class Request:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


Behaviour = Callable[[Request, socket.socket], None]


def answer(
    sock: socket.socket,
    status: int,
    body: bytes,
    *,
    headers: dict[str, str] | None = None,
    content_type: str = "application/json",
) -> None:
    head = [f"HTTP/1.1 {status} X", f"Content-Type: {content_type}", f"Content-Length: {len(body)}"]
    head += [f"{name}: {value}" for name, value in (headers or {}).items()]
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)


def answer_json(sock: socket.socket, status: int, document: Any, **kwargs: Any) -> None:
    answer(sock, status, json.dumps(document).encode(), **kwargs)


def drip(sock: socket.socket, body: bytes, *, every: float, stop: threading.Event) -> None:
    """A 200 whose body comes one byte per `every` seconds (each read sees progress)."""
    sock.sendall(
        f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
    )
    for byte in body:
        if stop.wait(every):
            return
        sock.sendall(bytes([byte]))


def endless(sock: socket.socket, *, announce: int | None, stop: threading.Event) -> None:
    """A 200 whose body never ends: announced as `announce` bytes, or chunked without end."""
    if announce is not None:
        sock.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {announce}\r\n\r\n".encode())
        block = b"0" * 65536
    else:
        sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        block = b"10000\r\n" + b"0" * 65536 + b"\r\n"
    while not stop.is_set():
        sock.sendall(block)


@dataclass
class HostileApi:
    """`with HostileApi(behaviour) as api:` serves on `api.url` until the block ends."""

    behaviour: Behaviour
    tls: ssl.SSLContext | None = None
    requests: list[Request] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._port = int(self._listener.getsockname()[1])
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def __enter__(self) -> HostileApi:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self.stop.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._sockets.append(sock)
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        try:
            if self.tls is not None:
                sock = self.tls.wrap_socket(sock, server_side=True)
                with self._lock:
                    self._sockets.append(sock)
            reader = sock.makefile("rb")
            while not self.stop.is_set():
                request = _read_request(reader)
                if request is None:
                    return
                with self._lock:
                    self.requests.append(request)
                self.behaviour(request, sock)
        except (OSError, ValueError):
            return
        finally:
            with contextlib.suppress(OSError):
                sock.close()


def _read_request(reader: Any) -> Request | None:
    line = reader.readline(65536)
    if not line.strip():
        return None
    method, target, _ = line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while (header := reader.readline(65536)) not in (b"\r\n", b"\n", b""):
        name, _, value = header.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = reader.read(int(headers.get("content-length") or 0))
    return Request(method, target, headers, body)


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)
