"""`reconcile --serve` below the CLI: the Board's probes on a fake clock, /metrics through
prometheus-client, and the real HTTP server on a loopback port."""

from __future__ import annotations

import sys

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from reconciler import service
from reconciler.adapters.status_server import StatusServer, parse_address
from reconciler.core.correct import DriftOutcome
from reconciler.core.drift import Drift
from reconciler.core.errors import UsageError
from reconciler.core.model import DriftKind, Plan
from reconciler.core.money import Money
from reconciler.core.pass_report import PassReport
from reconciler.core.spend import Spend
from reconciler.reconcile import Refresh
from tests.support.builders import desired, recorded, state
from tests.support.clock import FakeClock


def board(clock: FakeClock) -> service.Board:
    return service.Board(interval=60.0, clock=clock, now=lambda: 1_700_000_000.0)


def test_ready_only_while_the_last_success_is_within_two_intervals() -> None:
    clock = FakeClock()
    b = board(clock)
    assert b.readiness().status == 503
    assert b.health().status == 503  # the loop has not started
    b.loop_started()
    assert b.health().status == 200
    b.pass_started()
    b.pass_finished(PassReport(1), 0.5)
    assert b.readiness().status == 200
    clock.sleep(119)
    b.pass_finished(PassReport(2, error="API down"), 0.5)
    assert b.readiness().status == 200  # the last success is 119 s old: within 120
    clock.sleep(2)
    assert b.readiness().status == 503
    assert b"over two intervals" in b.readiness().body
    b.loop_stopped()
    assert b.health().status == 503


def test_a_pass_stuck_far_too_long_fails_the_liveness_probe() -> None:
    clock = FakeClock()
    b = board(clock)
    b.loop_started()
    b.pass_started()
    clock.sleep(3599)
    assert b.health().status == 200
    clock.sleep(2)
    assert b.health().status == 503


def test_metrics_are_prometheus_exposition_with_the_revision() -> None:
    b = board(FakeClock())
    drift = DriftOutcome(Drift("a", DriftKind.MISSING, "id-a"), corrected=False)
    b.pass_finished(PassReport(1, drift=(drift,), revision="c0ffee" * 6 + "abcd"), 2.0)
    scrape = service.routes(b)["/metrics"]()
    content_type, body = scrape.content_type, scrape.body
    assert content_type.startswith("text/plain; version=")
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in families.values()
        for s in family.samples
    }
    prefix = "tensormesh_reconciler_"
    assert samples[(prefix + "passes_total", (("result", "error"),))] == 0
    assert samples[(prefix + "passes_total", (("result", "ok"),))] == 1
    assert samples[(prefix + "drift", (("kind", "missing"),))] == 1
    assert samples[(prefix + "pass_duration_seconds", ())] == 2.0
    assert samples[(prefix + "revision_info", (("revision", "c0ffee" * 6 + "abcd"),))] == 1


def test_the_page_shows_what_the_last_pass_saw() -> None:
    b = board(FakeClock())
    model = desired("alpha")
    refresh = Refresh(
        (model,),
        state(recorded(model, "id-a")),
        (),
        (Drift("alpha", DriftKind.MISSING, "id-a"),),
        Plan(()),
    )
    b.observe(refresh, None)
    b.pass_finished(PassReport(1), 0.1)
    response = b.page()
    assert response.content_type == "text/html; charset=utf-8"
    assert b'data-name="alpha" data-sync="missing"' in response.body


def test_the_page_shows_the_last_pass_s_prices() -> None:
    b = board(FakeClock())
    models = (desired("alpha"), desired("beta"))
    spend = Spend(
        {"USD": 5_900_000_000},
        models=1,
        unpriced=("beta",),
        by_name={"alpha": Money("USD", 5_900_000_000)},
    )
    recorded_state = state(recorded(models[0], "id-a"), recorded(models[1], "id-b"))
    b.observe(Refresh(models, recorded_state, (), (), Plan(()), spend=spend), None)
    body = b.page().body.decode()
    assert '<td data-label="Hourly cost">5.90 USD/h</td>' in body
    assert "5.90 USD/h for 1 running managed model(s); price unknown for beta" in body
    # A pass that saw the deployments but priced nothing (no prices): no stale amounts.
    b.observe(Refresh(models, recorded_state, (), (), Plan(())), None)
    body = b.page().body.decode()
    assert "USD/h" not in body and 'id="spend"' not in body


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("8080", ("127.0.0.1", 8080)),
        (":0", ("127.0.0.1", 0)),
        ("0.0.0.0:9100", ("0.0.0.0", 9100)),
        ("[::1]:9100", ("::1", 9100)),
    ],
)
def test_serve_addresses(text: str, address: tuple[str, int]) -> None:
    assert parse_address(text) == address


@pytest.mark.parametrize("text", ["host:http", "host:70000", "host:-1", ""])
def test_bad_serve_addresses_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError, match="HOST:PORT"):
        parse_address(text)


def test_the_server_answers_routes_and_survives_a_failing_one() -> None:
    def broken() -> service.Response:
        raise RuntimeError("boom")

    b = board(FakeClock())
    b.loop_started()
    server = StatusServer("127.0.0.1", 0, {**service.routes(b), "/broken": broken})
    server.start()
    try:
        with httpx.Client(base_url=server.address) as client:
            assert client.get("/healthz").text == "ok\n"
            assert client.get("/readyz").status_code == 503
            assert client.get("/missing").status_code == 404
            assert client.get("/broken").status_code == 500
            page = client.get("/?x=1")
            assert page.status_code == 200
            assert "default-src 'none'" in page.headers["content-security-policy"]
            assert client.head("/healthz").content == b""
    finally:
        server.close()


def test_a_port_in_use_is_a_usage_error() -> None:
    first = StatusServer("127.0.0.1", 0, {})
    try:
        port = int(first.address.rsplit(":", 1)[1])
        with pytest.raises(UsageError, match="cannot listen"):
            StatusServer("127.0.0.1", port, {})
    finally:
        first.close()


def test_without_prometheus_client_serve_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from reconciler.adapters import prometheus_metrics

    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # as if not installed
    with pytest.raises(UsageError, match=r"pip install 'tensormesh-reconciler\[serve\]'"):
        prometheus_metrics.check_installed()
