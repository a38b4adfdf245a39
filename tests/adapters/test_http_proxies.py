"""Proxies and trust roots, through a real local forward proxy to a real HTTPS server.

The server's certificate comes from a throwaway CA (openssl); the proxy
(tests/support/connect_proxy.py) records every CONNECT and forwarded request, so each
test can say whether a call went through it.
"""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx._utils import get_environment_proxies

from reconciler.adapters.http_api import connect
from reconciler.adapters.http_settings import environment_proxies
from reconciler.core.errors import ApiTimeoutError, ApiUnreachableError
from tests.support.connect_proxy import ConnectProxy
from tests.support.hostile_api import HostileApi, Request, answer_json, drip
from tests.support.tls import Certificates, make_certificates

TOKEN = "tok-proxy-0a1b2c3d"
USER = "3f0c6d2e-0000-4000-8000-000000000001"
ENV = {"TENSORMESH_CONTROL_PLANE_TOKEN": TOKEN, "TENSORMESH_RETRY_BUDGET": "0"}


def profile(req: Request, sock: socket.socket) -> None:
    answer_json(sock, 200, {"user": {"id": USER}})


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def https_api(certificates: Certificates) -> Iterator[HostileApi]:
    with HostileApi(profile, tls=certificates.server_context()) as server:
        yield server


@pytest.fixture
def proxy() -> Iterator[ConnectProxy]:
    with ConnectProxy() as running:
        yield running


def test_https_goes_through_the_proxy_in_a_connect_tunnel(
    https_api: HostileApi, proxy: ConnectProxy, certificates: Certificates
) -> None:
    env = {**ENV, "HTTPS_PROXY": proxy.url, "TENSORMESH_CA_BUNDLE": str(certificates.ca)}
    with connect(https_api.url, environ=env) as api:
        assert api.whoami() == USER
        assert api.whoami() == USER
    assert proxy.seen == [f"CONNECT 127.0.0.1:{https_api.port}"]  # one tunnel, kept alive
    assert [r.path for r in https_api.requests] == ["/auth/profile"] * 2


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "localhost,127.0.0.1", "*"])
def test_no_proxy_goes_direct(
    https_api: HostileApi, proxy: ConnectProxy, certificates: Certificates, no_proxy: str
) -> None:
    env = {
        **ENV,
        "HTTPS_PROXY": proxy.url,
        "NO_PROXY": no_proxy,
        "TENSORMESH_CA_BUNDLE": str(certificates.ca),
    }
    with connect(https_api.url, environ=env) as api:
        assert api.whoami() == USER
    assert proxy.seen == []
    assert len(https_api.requests) == 1


def test_all_proxy_applies_and_lowercase_wins(
    https_api: HostileApi, proxy: ConnectProxy, certificates: Certificates
) -> None:
    env = {
        **ENV,
        "https_proxy": proxy.url,
        "HTTPS_PROXY": "http://127.0.0.1:9",  # nothing listens: lowercase must win
        "TENSORMESH_CA_BUNDLE": str(certificates.ca),
    }
    with connect(https_api.url, environ=env) as api:
        assert api.whoami() == USER
    assert len(proxy.seen) == 1
    env = {**ENV, "ALL_PROXY": proxy.url, "TENSORMESH_CA_BUNDLE": str(certificates.ca)}
    with connect(https_api.url, environ=env) as api:
        assert api.whoami() == USER
    assert len(proxy.seen) == 2


def test_plain_http_is_forwarded_in_absolute_form_with_proxy_credentials(
    proxy: ConnectProxy,
) -> None:
    user_proxy = proxy.url.replace("http://", "http://me:p%40ss@")
    with (
        HostileApi(profile) as server,
        connect(server.url, environ={**ENV, "HTTP_PROXY": user_proxy}) as api,
    ):
        assert api.whoami() == USER
    assert proxy.seen == [f"GET http://127.0.0.1:{server.port}/auth/profile"]
    assert proxy.auth == ["Basic " + base64.b64encode(b"me:p@ss").decode()]


def test_the_tunnel_carries_proxy_credentials(
    https_api: HostileApi, proxy: ConnectProxy, certificates: Certificates
) -> None:
    env = {
        **ENV,
        "HTTPS_PROXY": proxy.url.replace("http://", "http://me:secret@"),
        "TENSORMESH_CA_BUNDLE": str(certificates.ca),
    }
    with connect(https_api.url, environ=env) as api:
        assert api.whoami() == USER
    assert proxy.auth == ["Basic " + base64.b64encode(b"me:secret").decode()]


def test_without_the_ca_the_server_is_not_trusted(
    https_api: HostileApi, proxy: ConnectProxy
) -> None:
    with (
        connect(https_api.url, environ={**ENV, "HTTPS_PROXY": proxy.url}) as api,
        pytest.raises(ApiUnreachableError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        api.whoami()
    assert https_api.requests == []


@pytest.mark.parametrize("variable", ["SSL_CERT_FILE", "SSL_CERT_DIR"])
def test_ssl_cert_file_and_dir_set_the_trust_roots(
    https_api: HostileApi, certificates: Certificates, tmp_path: Path, variable: str
) -> None:
    if variable == "SSL_CERT_FILE":
        value = str(certificates.ca)
    else:  # a hashed directory, as c_rehash makes it
        value = str(tmp_path)
        _hashed_copy(certificates.ca, tmp_path)
    with connect(https_api.url, environ={**ENV, variable: value}) as api:
        assert api.whoami() == USER


def _hashed_copy(ca: Path, folder: Path) -> None:
    digest = subprocess.run(
        ["openssl", "x509", "-hash", "-noout", "-in", str(ca)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (folder / f"{digest}.0").write_bytes(ca.read_bytes())


def test_the_deadline_holds_through_the_proxy(
    proxy: ConnectProxy, certificates: Certificates
) -> None:
    stop = threading.Event()

    def behaviour(req: Request, sock: socket.socket) -> None:
        drip(sock, b'{"user": {"id": "' + b"u" * 200 + b'"}}', every=0.1, stop=stop)

    with HostileApi(behaviour, tls=certificates.server_context()) as server:
        env = {
            **ENV,
            "HTTPS_PROXY": proxy.url,
            "TENSORMESH_CA_BUNDLE": str(certificates.ca),
            "TENSORMESH_TIMEOUT_SECONDS": "1",
        }
        try:
            with connect(server.url, environ=env) as api, pytest.raises(ApiTimeoutError):
                api.whoami()
        finally:
            stop.set()
    assert len(proxy.seen) == 1


def test_an_https_proxy_url_uses_httpx_transport_within_the_same_rules(
    https_api: HostileApi, certificates: Certificates
) -> None:
    # http.client cannot speak TLS to a proxy: such a proxy goes through httpx's own
    # transport (here it fails to connect, as nothing listens, with our error).
    env = {
        **ENV,
        "HTTPS_PROXY": "https://127.0.0.1:9",
        "TENSORMESH_CA_BUNDLE": str(certificates.ca),
    }
    with connect(https_api.url, environ=env) as api, pytest.raises(ApiUnreachableError):
        api.whoami()


PROXY_ENVIRONMENTS: list[dict[str, str]] = [
    {},
    {"HTTP_PROXY": "http://p:1"},
    {"HTTPS_PROXY": "p:2"},
    {"ALL_PROXY": "socks5://p:3", "NO_PROXY": "example.com"},
    {"https_proxy": "http://low:1", "HTTPS_PROXY": "http://up:1"},
    {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "*"},
    {"HTTPS_PROXY": "http://p:1", "NO_PROXY": ".example.com, 10.0.0.1,::1,localhost,https://x.y"},
    {"HTTPS_PROXY": "http://p:1", "no_proxy": "a.b", "NO_PROXY": "c.d"},
    {"HTTP_PROXY": "http://p:1", "REQUEST_METHOD": "GET"},
    {"https_proxy": "", "HTTPS_PROXY": "http://p:1"},
]


@pytest.mark.parametrize("env", PROXY_ENVIRONMENTS, ids=range(len(PROXY_ENVIRONMENTS)))
def test_proxy_mapping_is_httpx_own(env: dict[str, str], monkeypatch: Any) -> None:
    for name in list(os.environ):
        if name.lower().endswith("_proxy") or name == "REQUEST_METHOD":
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert environment_proxies(env) == get_environment_proxies()


def test_no_proxy_patterns_match_as_in_httpx() -> None:
    env = {"HTTPS_PROXY": "http://p:1", "NO_PROXY": ".example.com,internal"}
    patterns = environment_proxies(env)
    client = httpx.Client(mounts={key: None for key in patterns if patterns[key] is None})
    del client  # construction validates every key as an httpx URL pattern


def test_a_dead_proxy_is_named_without_its_credentials(https_api: HostileApi) -> None:
    env = {**ENV, "HTTPS_PROXY": "http://me:hunter2@127.0.0.1:9"}
    with connect(https_api.url, environ=env) as api, pytest.raises(ApiUnreachableError) as caught:
        api.whoami()
    assert "through the proxy http://127.0.0.1:9" in str(caught.value)
    assert "NO_PROXY" in str(caught.value)
    assert "hunter2" not in str(caught.value)
