"""Where prices and the balance come from: one `GET /v1/billing/gpu-pricing` per run, or a
`--pricing FILE` holding the same JSON (offline plans); `GET /v1/billing/balance`.

Reads only. File problems name the file (and line:column for bad JSON); the parsing of the
rows themselves is core/pricing.py's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from reconciler.core.errors import ApiError
from reconciler.core.money import Money, MoneyFormatError, money_from_json
from reconciler.core.pricing import PriceList, PricingError, parse_pricing

PRICING_PATH = "/v1/billing/gpu-pricing"
BALANCE_PATH = "/v1/billing/balance"
API_SOURCE = "the pricing API"
MAX_FILE_BYTES = 16 * 1024 * 1024  # a price list is a few kilobytes; refuse a runaway file


@runtime_checkable
class JsonReader(Protocol):
    """The one thing this adapter needs of the API client (HttpModelsApi.read_json)."""

    def read_json(
        self, path: str, *, call: str, params: Mapping[str, str] | None = None
    ) -> Mapping[str, Any]: ...


def fetch_prices(api: JsonReader) -> PriceList:
    """Every row in one call (no filter): one call per run, whatever the plan's size."""
    call = f"GET {PRICING_PATH} (GPU prices)"
    body = api.read_json(PRICING_PATH, call=call)
    try:
        return parse_pricing(body, source=API_SOURCE)
    except PricingError as exc:
        raise ApiError(call, detail=f"malformed response: {exc}") from exc


def fetch_balance(api: JsonReader) -> Money:
    call = f"GET {BALANCE_PATH} (account balance)"
    body = api.read_json(BALANCE_PATH, call=call)
    try:
        return money_from_json(body.get("balance"), where="$.balance")
    except MoneyFormatError as exc:
        raise ApiError(call, detail=f"malformed response: {exc}") from exc


def read_pricing_file(path: str) -> PriceList:
    """A price list saved from the API (`curl .../v1/billing/gpu-pricing > prices.json`)."""
    source = f"pricing file {path}"
    try:
        with Path(path).open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise PricingError(f"{source}: cannot read it: {exc.strerror or exc}") from exc
    if len(raw) > MAX_FILE_BYTES:
        raise PricingError(f"{source}: larger than {MAX_FILE_BYTES // 2**20} MiB; not a price list")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PricingError(f"{source}: not UTF-8 text (byte {exc.start})") from exc
    try:
        document = json.loads(text, parse_constant=_no_constant, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise PricingError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from exc
    except ValueError as exc:
        raise PricingError(f"{source}: {exc}") from exc
    except RecursionError as exc:
        raise PricingError(f"{source}: nested too deeply to be a price list") from exc
    return parse_pricing(document, source=source)


def _no_constant(name: str) -> Any:
    # json accepts NaN and Infinity by default; no price is either.
    raise ValueError(f"{name} is not a number a price can hold")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"the key {key!r} appears twice in one object")
        seen[key] = value
    return seen
