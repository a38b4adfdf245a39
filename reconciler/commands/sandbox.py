"""`reconciler sandbox`: parses the sandbox flags and runs the local control plane.

Thin: builds a SandboxConfig and hands over. fastapi/uvicorn are an optional extra, imported
only here, so the rest of the CLI works without them.
"""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.core.errors import UsageError
from reconciler.sandbox.config import DEFAULT_TOKEN

_INSTALL_HINT = (
    "the sandbox needs fastapi and uvicorn, which are not installed. "
    "Install the extra: pip install 'tensormesh-reconciler[sandbox]' "
    "(in a checkout: pip install -e '.[sandbox]')"
)


def _probability(ctx: click.Context, param: click.Parameter, value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise click.BadParameter(f"must be between 0 and 1, got {value}")
    return value


@click.command(name="sandbox")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8080,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on; 0 picks a free one (the ready line shows it).",
)
@click.option(
    "--token",
    default=DEFAULT_TOKEN,
    show_default=True,
    help="The bearer token clients must send.",
)
@click.option(
    "--ready-after",
    default=3.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds a new model stays MODEL_STATUS_INIT before UP.",
)
@click.option(
    "--deleted-linger",
    default=60.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds a deleted model stays listed as MODEL_STATUS_DELETED.",
)
@click.option(
    "--latency-ms",
    default=0.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Answer every API request this many milliseconds after it arrived.",
)
@click.option(
    "--rate-limit-every",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Answer every Nth API request with 429 (0: never).",
)
@click.option(
    "--error-rate",
    default=0.0,
    show_default=True,
    callback=_probability,
    help="Probability of a 503 before any effect.",
)
@click.option(
    "--lose-create-rate",
    default=0.0,
    show_default=True,
    callback=_probability,
    help="Probability that a committed create answers 502.",
)
@click.option(
    "--fail-rate",
    default=0.0,
    show_default=True,
    callback=_probability,
    help="Probability that a new model ends MODEL_STATUS_FAILED.",
)
@click.option("--seed", default=0, show_default=True, help="Seed of the fault sequence.")
@click.option(
    "--data",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Keep models in this JSON file across restarts (default: memory only).",
)
@click.option(
    "--balance",
    default="100.00",
    show_default=True,
    help="The amount GET /v1/billing/balance reports (a decimal, USD).",
)
@click.option(
    "--log-level",
    default="warning",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
)
def command(
    *,
    host: str,
    port: int,
    token: str,
    ready_after: float,
    deleted_linger: float,
    latency_ms: float,
    rate_limit_every: int,
    error_rate: float,
    lose_create_rate: float,
    fail_rate: float,
    seed: int,
    data: Path | None,
    log_level: str,
    balance: str,
) -> None:
    """Run the local Tensormesh control plane (default token: sandbox-token)."""
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise UsageError(_INSTALL_HINT) from exc
    if not token:
        raise UsageError("--token must not be empty")
    from reconciler.sandbox.app import money
    from reconciler.sandbox.config import SandboxConfig
    from reconciler.sandbox.faults import FaultKnobs
    from reconciler.sandbox.main import run_sandbox

    money(balance, "USD")  # a bad amount fails here, naming the flag's value

    knobs = FaultKnobs(
        latency_ms=latency_ms,
        rate_limit_every=rate_limit_every,
        error_rate=error_rate,
        lose_create_rate=lose_create_rate,
        fail_rate=fail_rate,
    )
    run_sandbox(
        SandboxConfig(
            host=host,
            port=port,
            token=token,
            ready_after=ready_after,
            deleted_linger=deleted_linger,
            knobs=knobs,
            seed=seed,
            data=data,
            log_level=log_level,
            balance=balance,
        )
    )
