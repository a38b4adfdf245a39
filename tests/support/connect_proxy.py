"""A tiny threaded HTTP forward proxy on loopback: CONNECT tunnels and absolute-form GETs.

Records each request line it was asked to carry (`seen`), so a test can assert that a
call went through it (or, with NO_PROXY, did not). Daemon threads; `close()` ends all.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import urllib.parse
from types import TracebackType


class ConnectProxy:
    def __init__(self) -> None:
        self.seen: list[str] = []
        self.auth: list[str] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def __enter__(self) -> ConnectProxy:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _track(self, sock: socket.socket) -> socket.socket:
        with self._lock:
            self._sockets.append(sock)
        return sock

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(self._track(client),), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = client.recv(65536)
                if not chunk:
                    return
                head += chunk
            raw_head, _, rest = head.partition(b"\r\n\r\n")
            lines = raw_head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            with self._lock:
                self.seen.append(f"{method} {target}")
                self.auth += [
                    line.split(":", 1)[1].strip()
                    for line in lines[1:]
                    if line.lower().startswith("proxy-authorization:")
                ]
            if method == "CONNECT":
                host, _, port = target.rpartition(":")
                upstream = self._track(socket.create_connection((host, int(port)), timeout=10))
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                if rest:
                    upstream.sendall(rest)
            else:  # absolute form: forward this one request as it came
                url = urllib.parse.urlsplit(target)
                upstream = self._track(
                    socket.create_connection((url.hostname, url.port), timeout=10)
                )
                upstream.sendall(head)
            threading.Thread(target=_pipe, args=(upstream, client), daemon=True).start()
            _pipe(client, upstream)
        except OSError:
            return


def _pipe(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)
