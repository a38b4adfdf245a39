"""Price list: the GPU pricing document (`GET /v1/billing/gpu-pricing`) read into exact values.

One parser for the API's answer and for a `--pricing FILE` (the same JSON): every row is
checked, and every problem is reported with its JSON path. Pure: the adapters read the bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.core.errors import ReconcilerError
from reconciler.core.money import Money, MoneyFormatError, money_from_json

_MAX_PROBLEMS = 20


class PricingError(ReconcilerError):
    """A price list that cannot be read: names the source and every bad row."""


@dataclass(frozen=True, slots=True)
class Price:
    """One row: the hourly rate of one GPU of `gpu_type` on `cloud_provider`."""

    gpu_type: str
    cloud_provider: str
    hourly: Money
    active: bool


@dataclass(frozen=True, slots=True)
class Rate:
    """What one GPU of a (provider, type) pair costs per hour, or why that is not known."""

    hourly: Money | None
    why_unknown: str = ""
    inactive: bool = False  # only a retired (isActive false) row priced it


@dataclass(frozen=True, slots=True)
class PriceList:
    """Every row, and where they came from (for messages: "the pricing API", a file name)."""

    rows: tuple[Price, ...]
    source: str

    def rate(self, cloud_provider: str, gpu_type: str, *, deployable: bool) -> Rate:
        """The active price of the pair. With `deployable=False` (a model already running)
        a retired row still prices it: that is what it was started at."""
        pair = (cloud_provider, gpu_type)
        rows = [r for r in self.rows if (r.cloud_provider, r.gpu_type) == pair]
        active = {r.hourly for r in rows if r.active}
        if len(active) == 1:
            return Rate(next(iter(active)))
        if len(active) > 1:
            shown = ", ".join(f"{m}/h" for m in sorted(active))
            return Rate(None, f"{len(active)} different active prices ({shown}) in {self.source}")
        inactive = {r.hourly for r in rows}
        if not deployable and len(inactive) == 1:
            return Rate(next(iter(inactive)), inactive=True)
        if inactive:
            return Rate(None, f"{self.source} lists only an inactive price (isActive false)")
        return Rate(None, f"{self.source} has no price for it")


def parse_pricing(document: Any, *, source: str) -> PriceList:
    """The rows of `{"pricing": [{gpuType, cloudProvider, hourlyRate, isActive}]}`.

    A missing `pricing` is an empty list and a missing `isActive` is false (proto3 zero
    values may be left out). Raises PricingError listing every bad row.
    """
    if not isinstance(document, Mapping):
        raise PricingError(f"{source}: must be a JSON object with a `pricing` list")
    items = document.get("pricing", [])
    if items is None:
        items = []
    if not isinstance(items, list):
        raise PricingError(f"{source}: $.pricing must be a list of price rows")
    rows: list[Price] = []
    problems: list[str] = []
    for index, item in enumerate(items):
        try:
            rows.append(_row(item, where=f"$.pricing[{index}]"))
        except MoneyFormatError as exc:
            problems.append(str(exc))
    if problems:
        more = len(problems) - _MAX_PROBLEMS
        listed = problems[:_MAX_PROBLEMS] + ([f"... and {more} more"] if more > 0 else [])
        raise PricingError(f"{source}: {len(problems)} bad price row(s):\n  " + "\n  ".join(listed))
    return PriceList(tuple(rows), source)


def _row(item: Any, *, where: str) -> Price:
    if not isinstance(item, Mapping):
        raise MoneyFormatError(f"{where}: must be an object")
    names = []
    for key in ("gpuType", "cloudProvider"):
        value = item.get(key)
        if not isinstance(value, str) or not value or len(value) > 100:
            raise MoneyFormatError(f"{where}.{key}: must be a non-empty string")
        names.append(value)
    hourly = money_from_json(item.get("hourlyRate"), where=f"{where}.hourlyRate")
    if hourly.nanos < 0:
        raise MoneyFormatError(f"{where}.hourlyRate: a negative price ({hourly}) is not a price")
    active = item.get("isActive", False)
    if not isinstance(active, bool):
        raise MoneyFormatError(f"{where}.isActive: must be true or false")
    return Price(names[0], names[1], hourly, active)
