"""The cost flags of plan, apply and reconcile, declared once, and their settings value.

`--pricing FILE`, `--allow-unpriced`, `--max-hourly-increase AMOUNT`, `--min-balance-hours H`.
Parses and wires; deciding is in reconciler/costing.py and the core.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, TypeVar

import click

if TYPE_CHECKING:
    from reconciler.costing import CostOptions

F = TypeVar("F", bound=Callable[..., object])


def cost_options(func: F) -> F:
    """plan and apply: the pricing flags and the balance warning's threshold."""
    func = click.option(
        "--min-balance-hours",
        type=click.FloatRange(min=0),
        default=24.0,
        show_default=True,
        metavar="HOURS",
        help="Warn before deploying when the balance covers fewer hours of the new hourly "
        "total (0: never).",
    )(func)
    return pricing_options(func)


def pricing_options(func: F) -> F:
    """reconcile (and plan, apply): where prices come from, feasibility, the budget."""
    decorators = [
        click.option(
            "--pricing",
            "pricing_file",
            type=click.Path(dir_okay=False),
            metavar="FILE",
            help="GPU prices from this file (the JSON of GET /v1/billing/gpu-pricing) instead "
            "of the pricing API; for offline plans.",
        ),
        click.option(
            "--allow-unpriced",
            is_flag=True,
            help="Deploy a GPU type that has no active price on its provider (else an error).",
        ),
        click.option(
            "--max-hourly-increase",
            metavar="AMOUNT",
            help="Refuse (before any change) a run that adds more than AMOUNT per hour, e.g. "
            "10 or '10 USD'; without a currency it holds for each currency.",
        ),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def make_cost_options(
    *,
    pricing_file: str | None = None,
    allow_unpriced: bool = False,
    max_hourly_increase: str | None = None,
    min_balance_hours: float = 24.0,
) -> CostOptions:
    from reconciler.core.budget import HourlyLimit
    from reconciler.core.money import MoneyFormatError, parse_amount
    from reconciler.costing import CostOptions

    limit = None
    if max_hourly_increase is not None:
        try:
            nanos, currency = parse_amount(max_hourly_increase)
        except MoneyFormatError as exc:
            raise click.UsageError(f"--max-hourly-increase: {exc}") from exc
        if nanos < 0:
            raise click.UsageError("--max-hourly-increase must not be negative")
        limit = HourlyLimit(nanos, currency)
    return CostOptions(
        pricing_file=pricing_file,
        allow_unpriced=allow_unpriced,
        max_hourly_increase=limit,
        min_balance_hours=Decimal(str(min_balance_hours)),
    )


def warn(message: str) -> None:
    """On stderr, so that `--output json` keeps stdout one JSON document."""
    click.echo(f"warning: {message}", err=True)
