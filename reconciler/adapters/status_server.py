"""The HTTP side of `reconcile --serve`: a small threaded server in a daemon thread.

The standard library's ThreadingHTTPServer: four read-only GET routes, no framework. Each
request asks a route function for its response; the loop never waits on a request and a
slow client never holds a pass (the pages are built from what the passes left behind).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from reconciler.core.errors import UsageError

log = logging.getLogger("reconciler.serve")


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    content_type: str
    body: bytes


Route = Callable[[], Response]


def parse_address(text: str) -> tuple[str, int]:
    """`HOST:PORT`, `:PORT` or `PORT` (loopback), `[::1]:PORT`; port 0 picks a free one."""
    host, _, port = text.rpartition(":") if ":" in text else ("", "", text)
    host = host.strip("[]") or "127.0.0.1"
    try:
        number = int(port)
    except ValueError:
        number = -1
    if not 0 <= number <= 65535:
        raise UsageError(f"--serve {text!r}: give HOST:PORT with a port from 0 to 65535")
    return host, number


class StatusServer:
    """Serves `routes` (path -> function) until closed; `address` is where it listens."""

    def __init__(self, host: str, port: int, routes: Mapping[str, Route]) -> None:
        handler = _handler(dict(routes))
        try:
            self._server = ThreadingHTTPServer((host, port), handler)
        except (OSError, OverflowError) as exc:
            raise UsageError(f"--serve: cannot listen on {host}:{port}: {exc}") from exc
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="reconcile-serve", daemon=True
        )

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else str(host)
        shown = f"[{name}]" if ":" in name else name
        return f"http://{shown}:{port}"

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        if self._thread.is_alive():  # shutdown() would wait forever for a loop never started
            self._server.shutdown()
        self._server.server_close()


def _handler(routes: dict[str, Route]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "tensormesh-reconciler"
        sys_version = ""

        def do_GET(self) -> None:
            self._answer(send_body=True)

        def do_HEAD(self) -> None:
            self._answer(send_body=False)

        def _answer(self, *, send_body: bool) -> None:
            route = routes.get(self.path.split("?", 1)[0])
            if route is None:
                response = Response(404, "text/plain; charset=utf-8", b"not found\n")
            else:
                try:
                    response = route()
                except Exception:  # a page must never take the server down
                    log.exception("serving %s failed", self.path)
                    response = Response(500, "text/plain; charset=utf-8", b"internal error\n")
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            self.send_header("Cache-Control", "no-store")
            # The page has no script and loads nothing: say so to the browser as well.
            self.send_header(
                "Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'"
            )
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            if send_body:
                self.wfile.write(response.body)

        def log_message(self, format: str, *args: object) -> None:
            log.debug("%s " + format, self.address_string(), *args)

    return Handler
