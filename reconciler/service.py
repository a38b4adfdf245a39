"""`reconcile --serve`: what the loop shows while it runs (status page, probes, metrics).

The Board is the one place the loop and the HTTP threads share: the loop tells it when a
pass starts, what it saw and how it ended; request threads read it under a lock. Passes
only hand over references (cheap); rows and pages are built when a request asks, so serving
adds no work to a pass. Nothing here calls the API or prints.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from reconciler.adapters import prometheus_metrics
from reconciler.adapters.status_server import Response, Route
from reconciler.core import metrics, render_status, service_status
from reconciler.core.outcome import ApplyResult
from reconciler.core.pass_report import PassReport
from reconciler.reconcile import Refresh

KEEP_PASSES = 20
HTML = "text/html; charset=utf-8"
TEXT = "text/plain; charset=utf-8"


@dataclass(frozen=True, slots=True)
class _Seen:
    refresh: Refresh
    result: ApplyResult | None


class Board:
    def __init__(
        self,
        *,
        interval: float,
        source: str | None = None,
        cost_of: service_status.CostOf | None = None,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], float] = time.time,
        stall_after: float | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._interval = interval
        self._source = source
        self._cost_of = cost_of
        self._clock = clock
        self._now = now
        # A pass running longer than this means the loop is stuck (a hung call, a deadlock).
        self._stall_after = stall_after or max(10 * interval, 3600.0)
        self._running = False
        self._pass_started: float | None = None
        self._last_success: float | None = None  # monotonic
        self._last_duration = 0.0
        self._seen: _Seen | None = None
        self._passes: collections.deque[service_status.PassRow] = collections.deque(
            maxlen=KEEP_PASSES
        )
        self._counters = metrics.Counters()

    # The loop's side.
    def loop_started(self) -> None:
        with self._lock:
            self._running = True

    def loop_stopped(self) -> None:
        with self._lock:
            self._running = False

    def pass_started(self) -> None:
        with self._lock:
            self._pass_started = self._clock()

    def observe(self, refresh: Refresh, result: ApplyResult | None) -> None:
        with self._lock:
            self._seen = _Seen(refresh, result)

    def pass_finished(self, report: PassReport, duration: float) -> None:
        ended = self._now()
        with self._lock:
            self._pass_started = None
            self._last_duration = duration
            if report.ok:
                self._last_success = self._clock()
            self._passes.appendleft(
                service_status.pass_row(report, finished_at=ended, duration=duration)
            )
            self._counters = metrics.count_pass(
                self._counters, report, now=ended, duration=duration
            )

    # The requests' side.
    def health(self) -> Response:
        with self._lock:
            running, started = self._running, self._pass_started
        if not running:
            return Response(503, TEXT, b"the reconcile loop is not running\n")
        if started is not None and self._clock() - started > self._stall_after:
            return Response(503, TEXT, b"a pass has run far too long; the loop looks stuck\n")
        return Response(200, TEXT, b"ok\n")

    def readiness(self) -> Response:
        ready, why = self._ready()
        return Response(200 if ready else 503, TEXT, (why + "\n").encode())

    def _ready(self) -> tuple[bool, str]:
        with self._lock:
            last, duration = self._last_success, self._last_duration
        if last is None:
            return False, "no pass has succeeded yet"
        age = self._clock() - last
        # Two intervals between the ends of passes, plus a pass's own time: with a short
        # interval and a slow fetch, the gap between two good passes exceeds the interval.
        if age > 2 * self._interval + duration:
            return False, f"the last successful pass ended {age:.0f} s ago (over two intervals)"
        return True, "ok"

    def page(self) -> Response:
        with self._lock:
            seen, passes, counters = self._seen, tuple(self._passes), self._counters
        rows: tuple[service_status.DeploymentRow, ...] = ()
        if seen is not None:
            refresh = seen.refresh
            rows = service_status.deployment_rows(
                refresh.desired,
                refresh.state,
                refresh.live,
                drift=refresh.drift,
                plan=refresh.plan,
                result=seen.result,
                cost_of=self._cost_of,
            )
        page = render_status.StatusPage(
            deployments=rows,
            passes=passes,
            revision=counters.revision,
            source=self._source,
            now=self._now(),
            refresh_seconds=max(5, min(60, round(self._interval))),
            ready=self._ready()[0],
            seen=seen is not None,
        )
        return Response(200, HTML, render_status.render_status_page(page).encode())

    def counters(self) -> metrics.Counters:
        with self._lock:
            return self._counters


def routes(board: Board) -> Mapping[str, Route]:
    exposition = prometheus_metrics.Exposition(board.counters)

    def scrape() -> Response:
        content_type, body = exposition.render()
        return Response(200, content_type, body)

    return {
        "/": board.page,
        "/healthz": board.health,
        "/readyz": board.readiness,
        "/metrics": scrape,
    }
