"""`reconciler sandbox`: parses the sandbox flags and runs the local control plane.

Thin: builds a SandboxConfig and hands over. fastapi/uvicorn are an optional extra, imported
only here, so the rest of the CLI works without them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click

from reconciler.adapters import endpoint
from reconciler.commands.options import PROBABILITY, SECONDS, FiniteFloat
from reconciler.core.errors import UsageError
from reconciler.sandbox.config import DEFAULT_TOKEN

_ENUM_NAME = re.compile(r"^[A-Z][A-Z0-9_]*\Z")
_INSTALL_HINT = (
    "the sandbox needs fastapi and uvicorn, which are not installed. "
    "Install the extra: pip install 'tensormesh-reconciler[sandbox]' "
    "(in a checkout: pip install -e '.[sandbox]')"
)


def _enum_name(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    names = value if isinstance(value, tuple) else (value,)
    for name in names:
        if not _ENUM_NAME.match(name):
            raise click.BadParameter(f"{name!r} is not an enum value name like MODEL_STATUS_FAILED")
    return value


def _check_token(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not value:
        raise click.BadParameter("must not be empty", ctx, param)
    try:
        return endpoint.check_token(value, source="--token")
    except UsageError as exc:
        raise click.BadParameter(
            "the token " + str(exc).removeprefix("--token "), ctx, param
        ) from exc


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
    callback=_check_token,
    help="The bearer token clients must send.",
)
@click.option(
    "--ready-after",
    default=3.0,
    show_default=True,
    type=SECONDS,
    help="Seconds a new model stays MODEL_STATUS_INIT before UP.",
)
@click.option(
    "--deleted-linger",
    default=60.0,
    show_default=True,
    type=SECONDS,
    help="Seconds a deleted model stays listed as MODEL_STATUS_DELETED.",
)
@click.option(
    "--latency-ms",
    default=0.0,
    show_default=True,
    type=FiniteFloat(unit="number of milliseconds"),
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
    type=PROBABILITY,
    help="Probability of a 503 before any effect.",
)
@click.option(
    "--lose-create-rate",
    default=0.0,
    show_default=True,
    type=PROBABILITY,
    help="Probability that a committed create answers 502.",
)
@click.option(
    "--fail-rate",
    default=0.0,
    show_default=True,
    type=PROBABILITY,
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
    "--log-level",
    default="warning",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
)
# The knobs below each switch one guess about the real API (docs/sandbox.md lists them).
@click.option(
    "--omit-zero-values",
    is_flag=True,
    help='Omit zero-valued fields from Model JSON (default: emit "", "0" as grpc-gateway does).',
)
@click.option(
    "--strict-requests",
    is_flag=True,
    help="Answer unknown request fields with 400 (default: discard them as grpc-gateway does).",
)
@click.option(
    "--failed-status",
    default="MODEL_STATUS_FAILED",
    show_default=True,
    callback=_enum_name,
    help="The status a failed model reports (a guess: the SDK knows only UP and DELETED).",
)
@click.option(
    "--terminal-status",
    "terminal_statuses",
    multiple=True,
    callback=_enum_name,
    help="Another terminal status /_sandbox/models/{id}:fail may force (repeatable).",
)
@click.option(
    "--cloud-provider",
    "cloud_providers",
    multiple=True,
    callback=_enum_name,
    help="Accepted infra.cloudProvider (repeatable; default NEBIUS, LAMBDA, YOTTA, ONPREM).",
)
@click.option(
    "--event-type-info",
    default="MODEL_EVENT_TYPE_INFO",
    show_default=True,
    callback=_enum_name,
    help="eventType of ordinary model events.",
)
@click.option(
    "--event-type-error",
    default="MODEL_EVENT_TYPE_ERROR",
    show_default=True,
    callback=_enum_name,
    help="eventType of failure events.",
)
@click.option(
    "--unknown-path-status",
    default="501",
    show_default=True,
    type=click.Choice(["501", "404"]),
    help="Status of an unknown path (a wrong method on a known path is always 501).",
)
@click.option(
    "--balance",
    default="100.00",
    show_default=True,
    help="The amount GET /v1/billing/balance reports (a decimal, USD).",
)
@click.option(
    "--refuse-creates-billing",
    "refuse_creates_status",
    default=0,
    show_default=True,
    type=click.IntRange(min=0, max=599),
    help="Refuse every create for billing with this HTTP status, e.g. 402 (0: never).",
)
@click.option(
    "--refuse-creates-code",
    default=0,
    show_default=True,
    type=click.IntRange(min=0, max=16),
    help="gRPC code of that refusal (0: derived from the status; 9 FAILED_PRECONDITION).",
)
@click.option(
    "--token-ttl",
    default=None,
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds an access token stays valid (default: forever); rotate via /_sandbox/tokens.",
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
    omit_zero_values: bool,
    strict_requests: bool,
    failed_status: str,
    terminal_statuses: tuple[str, ...],
    cloud_providers: tuple[str, ...],
    event_type_info: str,
    event_type_error: str,
    unknown_path_status: str,
    balance: str,
    refuse_creates_status: int,
    refuse_creates_code: int,
    token_ttl: float | None,
) -> None:
    """Run the local Tensormesh control plane (default token: sandbox-token)."""
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise UsageError(_INSTALL_HINT) from exc
    from reconciler.sandbox.catalog import CLOUD_PROVIDERS
    from reconciler.sandbox.config import ApiShape, SandboxConfig
    from reconciler.sandbox.faults import FaultKnobs, check_knobs
    from reconciler.sandbox.main import run_sandbox
    from reconciler.sandbox.routes_account import money

    money(balance, "USD")  # a bad amount fails here, naming the flag's value
    knobs = check_knobs(
        FaultKnobs(
            latency_ms=latency_ms,
            rate_limit_every=rate_limit_every,
            error_rate=error_rate,
            lose_create_rate=lose_create_rate,
            fail_rate=fail_rate,
            refuse_creates_status=refuse_creates_status,
            refuse_creates_code=refuse_creates_code,
        )
    )
    shape = ApiShape(
        emit_zero_values=not omit_zero_values,
        strict_requests=strict_requests,
        failed_status=failed_status,
        terminal_statuses=terminal_statuses,
        cloud_providers=cloud_providers or CLOUD_PROVIDERS,
        event_info=event_type_info,
        event_error=event_type_error,
        unknown_path_status=int(unknown_path_status),
        balance=balance,
        token_ttl=token_ttl,
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
            shape=shape,
        )
    )
