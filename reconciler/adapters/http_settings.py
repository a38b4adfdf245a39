"""The control-plane client's network settings, read once from the environment.

Timeout, answer size cap, trust roots and proxies. Builds nothing and sends nothing;
`http_api.connect()` turns these into transports. Every bad value is a UsageError
naming the variable, never a traceback.
"""

from __future__ import annotations

import ipaddress
import math
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from reconciler.core.errors import UsageError

TIMEOUT_ENV = "TENSORMESH_TIMEOUT_SECONDS"
CA_BUNDLE_ENV = "TENSORMESH_CA_BUNDLE"
MAX_BODY_ENV = "TENSORMESH_MAX_RESPONSE_BYTES"
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_BODY = 32 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class NetworkSettings:
    """What every API call obeys: `timeout` seconds per attempt in all, at most
    `max_body` bytes of answer, and the proxy for each URL pattern (httpx's mount keys;
    None means "direct", for NO_PROXY)."""

    timeout: float = DEFAULT_TIMEOUT
    max_body: int = DEFAULT_MAX_BODY
    ca_bundle: str | None = None
    cert_file: str | None = None
    cert_dir: str | None = None
    proxies: tuple[tuple[str, str | None], ...] = ()


def read_network_settings(env: Mapping[str, str]) -> NetworkSettings:
    ca_bundle = env.get(CA_BUNDLE_ENV, "").strip() or None
    if ca_bundle is not None and not os.path.exists(ca_bundle):
        raise UsageError(
            f"{CA_BUNDLE_ENV}={ca_bundle!r}: no such file; point it at a PEM file of the CA "
            "certificates to trust, or unset it"
        )
    return NetworkSettings(
        timeout=_seconds(env.get(TIMEOUT_ENV, "").strip()),
        max_body=_bytes(env.get(MAX_BODY_ENV, "").strip()),
        ca_bundle=ca_bundle,
        cert_file=env.get("SSL_CERT_FILE") or None,
        cert_dir=env.get("SSL_CERT_DIR") or None,
        proxies=tuple(environment_proxies(env).items()),
    )


def tls_context(settings: NetworkSettings) -> ssl.SSLContext:
    """The trust roots: TENSORMESH_CA_BUNDLE, else SSL_CERT_FILE / SSL_CERT_DIR, else
    certifi's bundle (httpx's own order for the last three)."""
    try:
        if settings.ca_bundle is not None:
            if os.path.isdir(settings.ca_bundle):
                return ssl.create_default_context(capath=settings.ca_bundle)
            return ssl.create_default_context(cafile=settings.ca_bundle)
        if settings.cert_file:
            return ssl.create_default_context(cafile=settings.cert_file)
        if settings.cert_dir:
            return ssl.create_default_context(capath=settings.cert_dir)
    except (OSError, ssl.SSLError) as exc:
        source = CA_BUNDLE_ENV if settings.ca_bundle else "SSL_CERT_FILE / SSL_CERT_DIR"
        raise UsageError(
            f"the CA certificates in {source} cannot be loaded ({exc}); it must hold PEM "
            "certificates"
        ) from exc
    return httpx.create_ssl_context(trust_env=False)


def environment_proxies(env: Mapping[str, str]) -> dict[str, str | None]:
    """httpx's `get_environment_proxies()`, over `env` instead of os.environ.

    HTTP_PROXY / HTTPS_PROXY / ALL_PROXY (lowercase names win, as urllib reads them) map
    to "http://", "https://", "all://"; each NO_PROXY host maps to None (direct), with
    curl's rules; NO_PROXY=* means no proxy at all.
    """
    found = _proxy_variables(env)
    mounts: dict[str, str | None] = {}
    for scheme in ("http", "https", "all"):
        if found.get(scheme):
            url = found[scheme]
            mounts[f"{scheme}://"] = url if "://" in url else f"http://{url}"
    for host in (part.strip() for part in found.get("no", "").split(",")):
        if host == "*":
            return {}
        if not host:
            continue
        if "://" in host:
            mounts[host] = None
        elif _is_ip(host, 4) or host.lower() == "localhost":
            mounts[f"all://{host}"] = None
        elif _is_ip(host, 6):
            mounts[f"all://[{host}]"] = None
        else:
            mounts[f"all://*{host}"] = None
    return mounts


def _proxy_variables(env: Mapping[str, str]) -> dict[str, str]:
    # urllib.request.getproxies_environment(): any case first, then lowercase names again
    # so that they win; an empty lowercase one unsets.
    found: dict[str, str] = {}
    for name, value in env.items():
        if value and name.lower().endswith("_proxy"):
            found[name.lower()[:-6]] = value
    if "REQUEST_METHOD" in env:
        found.pop("http", None)  # CGI: HTTP_PROXY is a request header there (httpoxy)
    for name, value in env.items():
        if name.endswith("_proxy"):
            if value:
                found[name.lower()[:-6]] = value
            else:
                found.pop(name.lower()[:-6], None)
    return found


def _is_ip(host: str, version: int) -> bool:
    try:
        return ipaddress.ip_address(host).version == version
    except ValueError:
        return False


def _seconds(text: str) -> float:
    if not text:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise UsageError(
            f"{TIMEOUT_ENV}={text[:40]!r} is not a number of seconds > 0; unset it for the "
            f"default {DEFAULT_TIMEOUT:g} s"
        )
    return seconds


def _bytes(text: str) -> int:
    if not text:
        return DEFAULT_MAX_BODY
    number = int(text) if text.isascii() and text.isdigit() and len(text) < 19 else 0
    if number < 1024:
        raise UsageError(
            f"{MAX_BODY_ENV}={text[:40]!r} is not a byte count of at least 1024; unset it for "
            f"the default {DEFAULT_MAX_BODY} (32 MiB)"
        )
    return number
