"""Money: amounts as whole nanos of a currency, so sums and products are exact.

The API's google.type.Money (`{currencyCode, units, nanos}`) maps to an integer count of
billionths; nothing here ever uses a float. Amounts of different currencies are never added:
every sum is kept per currency. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

NANOS_PER_UNIT = 1_000_000_000
MAX_NANOS = NANOS_PER_UNIT - 1
INT64_MAX = 2**63 - 1
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_UNITS = re.compile(r"^-?[0-9]{1,19}$")
_AMOUNT = re.compile(
    r"^\s*(?:([A-Za-z]{3})\s*)?([+-]?[0-9]{1,30}(?:\.[0-9]{1,9})?)\s*(?:([A-Za-z]{3}))?\s*$"
)


class MoneyFormatError(ValueError):
    """A Money object or an amount that cannot be read exactly; the message says why."""


@dataclass(frozen=True, slots=True, order=True)
class Money:
    """An exact amount: `nanos` billionths of one unit of `currency` (ISO 4217)."""

    currency: str
    nanos: int

    @property
    def amount(self) -> Decimal:
        # From a string: the Decimal constructor is exact whatever the context's precision.
        return Decimal(format_amount(self.nanos))

    def times(self, factor: int) -> Money:
        return Money(self.currency, self.nanos * factor)

    def __str__(self) -> str:
        return f"{format_amount(self.nanos)} {self.currency}"


def format_amount(nanos: int, *, signed: bool = False) -> str:
    """`nanos` as a decimal string, at least 2 decimals, no trailing zeros beyond them."""
    sign = "-" if nanos < 0 else ("+" if signed and nanos > 0 else "")
    units, fraction = divmod(abs(nanos), NANOS_PER_UNIT)
    digits = f"{fraction:09d}".rstrip("0").ljust(2, "0")
    return f"{sign}{units}.{digits}"


def money_from_json(obj: Any, *, where: str) -> Money:
    """A google.type.Money as the API sends it: units an int64 (string or number), nanos an
    int32 of the same sign with |nanos| < 1e9. Zero values may be missing."""
    if not isinstance(obj, Mapping):
        raise MoneyFormatError(f"{where}: must be an object with currencyCode, units and nanos")
    currency = obj.get("currencyCode")
    if not isinstance(currency, str) or not _CURRENCY.match(currency):
        raise MoneyFormatError(
            f"{where}.currencyCode: {_show(currency)} is not a 3-letter ISO 4217 code (e.g. USD)"
        )
    units = _units(obj.get("units", "0"), where=f"{where}.units")
    nanos = obj.get("nanos", 0)
    if isinstance(nanos, bool) or not isinstance(nanos, int):
        raise MoneyFormatError(f"{where}.nanos: {_show(nanos)} is not an integer")
    if abs(nanos) > MAX_NANOS:
        raise MoneyFormatError(f"{where}.nanos: {nanos} is outside -999999999..999999999")
    if (units > 0 and nanos < 0) or (units < 0 and nanos > 0):
        raise MoneyFormatError(f"{where}: units {units} and nanos {nanos} have different signs")
    return Money(currency, units * NANOS_PER_UNIT + nanos)


def _units(value: Any, *, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise MoneyFormatError(f"{where}: {_show(value)} is not an integer (a string of digits)")
    text = str(value)
    if not _UNITS.match(text) or abs(int(text)) > INT64_MAX:
        raise MoneyFormatError(f"{where}: {_show(value)} is not an int64")
    return int(text)


def parse_amount(text: str) -> tuple[int, str | None]:
    """A user's amount, `2.5`, `2.5 USD` or `USD 2.5`: (nanos, currency or None)."""
    match = _AMOUNT.match(text)
    if match is None or (match.group(1) and match.group(3)):
        raise MoneyFormatError(
            f"{text!r} is not an amount: give a decimal with at most 9 decimals, optionally "
            "with a currency, e.g. 10, 12.50 or '12.50 USD'"
        )
    # From the digits, not through Decimal arithmetic: exact whatever the size.
    whole, _, fraction = match.group(2).lstrip("+").partition(".")
    negative = whole.startswith("-")
    nanos = abs(int(whole)) * NANOS_PER_UNIT + int(fraction.ljust(9, "0"))
    nanos = -nanos if negative else nanos
    currency = match.group(1) or match.group(3)
    if abs(nanos) > INT64_MAX * NANOS_PER_UNIT:
        raise MoneyFormatError(f"{text!r} is too large")
    return nanos, currency.upper() if currency else None


def sum_by_currency(amounts: Iterable[Money]) -> dict[str, int]:
    """Nanos per currency; a currency is never added to another."""
    totals: dict[str, int] = {}
    for money in amounts:
        totals[money.currency] = totals.get(money.currency, 0) + money.nanos
    return dict(sorted(totals.items()))


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
