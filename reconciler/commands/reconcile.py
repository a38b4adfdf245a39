"""`reconcile`: refresh recorded entries from the live API, report drift, correct it;
every `--interval` seconds unless `--once`. Parses flags and wires; decides nothing.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from reconciler.commands import signals
from reconciler.commands.costs import pricing_options
from reconciler.commands.options import (
    SECONDS,
    FiniteFloat,
    api_url_option,
    check_output_folder,
    guard_options,
    lock_timeout_option,
    selection_options,
    state_option,
    unmanaged_options,
)
from reconciler.core.errors import ReconcilerError
from reconciler.core.exit_codes import EXIT_ERROR, EXIT_OK

if TYPE_CHECKING:
    from reconciler.adapters.status_server import StatusServer
    from reconciler.checkout import Checkout
    from reconciler.core.outcome import ApplyResult
    from reconciler.git_source import GitSource
    from reconciler.service import Board


# Seconds an open circuit stays shut in a loop (or one --interval, when shorter).
BREAKER_COOLDOWN = 60.0


@click.command("reconcile")
@click.argument("paths", nargs=-1, type=click.Path(), metavar="PATH...")
@state_option
@api_url_option
@click.option("--once", is_flag=True, help="Run one pass and exit with its code.")
@click.option(
    "--interval",
    type=FiniteFloat(0.1, unit="number of seconds"),
    default=300.0,
    show_default=True,
    help="Seconds between passes (±10% jitter).",
)
@click.option("--detect-only", is_flag=True, help="Report drift; change nothing.")
@click.option(
    "--pull",
    is_flag=True,
    help="`git pull --ff-only` in the manifests' clone before each pass (a pass fails when "
    "it cannot fast-forward).",
)
@click.option(
    "--push",
    is_flag=True,
    help="Commit the state file when a pass changed it and push it (as `apply --push`).",
)
@click.option("--prune", is_flag=True, help="Delete entries removed from the manifests.")
@click.option(
    "--output",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="A short table, or one JSON object per pass (JSON Lines).",
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="With --once: exit 2 when drift was found (or corrected).",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Logs on stderr: plain text or one JSON object per line.",
)
@click.option(
    "--metrics-file",
    callback=check_output_folder,
    help="Write Prometheus metrics here after each pass (its folder must exist).",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 256),
    default=8,
    show_default=True,
    help="At most N API calls in flight.",
)
@click.option(
    "--wait/--no-wait",
    default=False,
    show_default=True,
    help="Wait for corrected models to reach MODEL_STATUS_UP (default: do not; the next "
    "pass checks them).",
)
@click.option(
    "--wait-timeout",
    type=SECONDS,
    default=1800.0,
    show_default=True,
    help="Seconds to wait for MODEL_STATUS_UP with --wait.",
)
@click.option(
    "--git",
    "git_url",
    metavar="URL",
    help="Pull mode: keep an own clone of this repository in --workdir, fetch --ref before "
    "every pass and reconcile exactly the fetched revision (PATH... are then not given).",
)
@click.option("--ref", "git_ref", default="main", show_default=True, help="The branch to follow.")
@click.option(
    "--path",
    "git_path",
    default=".",
    show_default=True,
    metavar="DIR",
    help="With --git: the manifests' folder inside the repository.",
)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False),
    metavar="DIR",
    help="With --git: the folder holding the reconciler's own clone (created when missing). "
    "A relative --state then names a file in the clone, written back by commit and push.",
)
@click.option(
    "--verify-commits",
    "allowed_signers",
    type=click.Path(exists=True, dir_okay=False),
    metavar="ALLOWED_SIGNERS",
    help="With --git: refuse a revision whose commit is not signed by a key in this git "
    "allowed-signers file (git verify-commit).",
)
@click.option(
    "--serve",
    metavar="HOST:PORT",
    help="Serve a status page (/), /metrics, /healthz and /readyz while the loop runs; "
    "HOST defaults to 127.0.0.1, port 0 picks a free one.",
)
@lock_timeout_option
@selection_options
@guard_options
@unmanaged_options
@click.option(
    "--heal-changed",
    is_flag=True,
    help="Also replace running models whose live fields changed out of band (default: "
    "report them; missing and failed models are recreated either way).",
)
@pricing_options
def command(
    *,
    paths: tuple[str, ...],
    state_path: str,
    api_url: str | None,
    once: bool,
    interval: float,
    detect_only: bool,
    prune: bool,
    pull: bool = False,
    push: bool = False,
    output_format: str,
    detailed_exitcode: bool,
    log_format: str,
    metrics_file: str | None,
    concurrency: int,
    wait: bool,
    wait_timeout: float,
    lock_timeout: float,
    targets: tuple[str, ...] = (),
    excludes: tuple[str, ...] = (),
    selectors: tuple[str, ...] = (),
    auto_approve: bool = False,
    max_destroy: int | None = None,
    unmanaged: str = "report",
    ignore_unmanaged: tuple[str, ...] = (),
    heal_changed: bool = False,
    pricing_file: str | None = None,
    allow_unpriced: bool = False,
    max_hourly_increase: str | None = None,
    git_url: str | None = None,
    git_ref: str = "main",
    git_path: str = ".",
    workdir: str | None = None,
    allowed_signers: str | None = None,
    serve: str | None = None,
) -> int:
    """Detect drift against the live API and correct it."""
    from reconciler import reconcile
    from reconciler.adapters import ignore_file, logs
    from reconciler.apply import ApplyOptions
    from reconciler.commands.costs import make_cost_options
    from reconciler.commands.scope import make_scope
    from reconciler.core.pass_report import PassReport
    from reconciler.core.render_drift import pass_to_json_line, render_pass
    from reconciler.session import Session, Settings

    # A bad amount is a usage error before anything is cloned, served or read.
    cost = make_cost_options(
        pricing_file=pricing_file,
        allow_unpriced=allow_unpriced,
        max_hourly_increase=max_hourly_increase,
    )
    source = _git_source(
        paths,
        url=git_url,
        ref=git_ref,
        path=git_path,
        workdir=workdir,
        allowed_signers=allowed_signers,
        pull=pull,
        push=push,
    )
    if not paths and source is None:
        raise click.UsageError("give at least one manifest file or folder")
    board = _board(serve, interval=interval, source=source)  # a bad address: usage error
    clients = signals.OpenClients()  # cut when a stop has waited its grace
    # One session for the whole loop: one API client, one whoami, one token source (a
    # rotated token file is picked up between calls and after a 401).
    resolved = Settings.resolve(
        os.environ,
        state_path=state_path,
        api_url=api_url,
        concurrency=concurrency,
        lock_timeout=lock_timeout,
        # The loop's one client: a circuit opened by a bad spell lets a later pass try again.
        breaker_cooldown=min(interval, BREAKER_COOLDOWN),
    )
    session = Session(resolved, track=clients.track)
    # A bad token or URL is one usage error now, not a failed pass every --interval.
    session.connect()
    logs.setup_logging(log_format)
    sync = None
    if source is not None:
        state_path, paths, sync = _open_source(source, state_path, lock_timeout=lock_timeout)
        session = session.moved_to(state_path)
        # Pull mode writes a state kept in its clone back (commit and push), as --push does.
        push = source.holds(state_path)
    publish = _writeback(state_path, push=push and not detect_only)
    options = reconcile.PassOptions(
        prune=prune,
        detect_only=detect_only,
        heal_changed=heal_changed,
        apply=ApplyOptions(concurrency=concurrency, wait=wait, wait_timeout=wait_timeout),
        lock_timeout=lock_timeout,
        scope=make_scope(
            targets=targets,
            excludes=excludes,
            selectors=selectors,
            max_destroy=max_destroy,
            auto_approve=auto_approve,
        ),
        unmanaged=reconcile.UnmanagedPolicy(
            report=unmanaged != "ignore",
            ignore=(*ignore_file.read_ignore_globs(paths), *ignore_unmanaged),
        ),
        pull=pull,
        publish=publish,
        cost=cost,
        source=sync,
        observe=board.observe if board is not None else None,
    )
    stop = session.stop
    cut_short = threading.Event()  # the stop came while a pass ran
    tokens = session.tokens

    def run_one(number: int) -> PassReport:
        refused_before = tokens.rejections
        if board is not None:
            board.pass_started()
        started = time.monotonic()
        report = reconcile.run_pass(number, list(paths), session, options=options)
        if stop.is_set():
            cut_short.set()
        report = dataclasses.replace(report, auth_failures=tokens.rejections - refused_before)
        if board is not None:
            board.pass_finished(report, time.monotonic() - started)
        return report

    def emit(report: PassReport) -> None:
        text = pass_to_json_line(report) if output_format == "json" else render_pass(report)
        click.echo(text, nl=False)  # click.echo flushes: each pass shows up at once

    server = _start_server(serve, board)
    try:
        with signals.stop_on_signals(
            stop, doing="finishing the current pass safely", clients=clients
        ):
            last = reconcile.run_passes(
                run_one,
                once=once,
                interval=interval,
                stop=stop,
                emit=emit,
                metrics_path=metrics_file,
            )
    finally:
        session.close()
        if server is not None:
            server.close()
    if not once:
        # Loop mode ends only on SIGTERM/SIGINT: a clean exit when it came between passes,
        # an error when it cut a pass short (some corrections were not made).
        return EXIT_ERROR if cut_short.is_set() else EXIT_OK
    return last.exit_code(detailed_exitcode=detailed_exitcode)


def _git_source(
    paths: tuple[str, ...],
    *,
    url: str | None,
    ref: str,
    path: str,
    workdir: str | None,
    allowed_signers: str | None,
    pull: bool,
    push: bool,
) -> GitSource | None:
    """--git and its companions, checked against the other flags before anything runs."""
    from reconciler import git_source

    if url is None:
        if workdir is not None or allowed_signers is not None:
            raise click.UsageError("--workdir and --verify-commits go with --git URL")
        return None
    if paths:
        raise click.UsageError(
            "--git reconciles the manifests of its own clone (--path DIR inside it); "
            "drop the PATH arguments"
        )
    if workdir is None:
        raise click.UsageError("--git needs --workdir DIR, the folder for its own clone")
    if pull or push:
        raise click.UsageError(
            "--git fetches before every pass and writes a state kept in its clone back by "
            "itself; drop --pull/--push"
        )
    if not ref or ref.startswith("-") or any(c in ref for c in " ~^:?*[\\"):
        raise click.UsageError(f"--ref {ref!r} is not a branch name")
    try:
        checked = git_source.check_path(path)
    except ReconcilerError as exc:
        raise click.UsageError(str(exc)) from exc
    return git_source.GitSource(
        url=url,
        branch=ref,
        path=checked,
        workdir=Path(workdir).absolute(),
        allowed_signers=Path(allowed_signers).absolute() if allowed_signers else None,
    )


def _open_source(
    source: GitSource, state_path: str, *, lock_timeout: float
) -> tuple[str, tuple[str, ...], Callable[[str], Checkout]]:
    """Clone (or reuse the clone) and fetch once; the state path, the manifests and the
    per-pass sync."""
    from reconciler import git_source
    from reconciler.adapters import state_location

    repo = git_source.open_clone(source)
    state_path = source.resolve_state(state_path)
    if not state_location.is_database(state_path):
        Path(state_path).parent.mkdir(parents=True, exist_ok=True)

    def sync(state: str) -> Checkout:
        return git_source.sync(source, repo, state, lock_timeout=lock_timeout)

    return state_path, (str(source.manifests),), sync


def _board(serve: str | None, *, interval: float, source: GitSource | None) -> Board | None:
    if serve is None:
        return None
    from reconciler import service
    from reconciler.adapters import prometheus_metrics, status_server

    status_server.parse_address(serve)  # a bad address is a usage error before anything runs
    prometheus_metrics.check_installed()
    shown = None if source is None else f"{source.url} {source.branch} {source.path}"
    return service.Board(interval=interval, source=shown)


def _start_server(serve: str | None, board: Board | None) -> StatusServer | None:
    if serve is None or board is None:
        return None
    from reconciler import service
    from reconciler.adapters import status_server

    host, port = status_server.parse_address(serve)
    server = status_server.StatusServer(host, port, service.routes(board))
    server.start()
    board.loop_started()
    # On stderr: stdout carries the passes (JSON Lines with --output json).
    click.echo(f"serving the status page on {server.address}/", err=True)
    return server


def _writeback(state_path: str, *, push: bool) -> Callable[[ApplyResult], None] | None:
    """The `--push` write-back, checked once before the first pass (as apply checks it)."""
    from reconciler import writeback

    options = writeback.WritebackOptions(push=push, verb="reconcile")
    repo = writeback.prepare(state_path, options)
    if repo is None:
        return None
    log = logging.getLogger("reconciler.reconcile")

    def publish(result: ApplyResult) -> None:
        done = writeback.write_back(repo, state_path, result, options)
        if done.commit is not None:
            log.info("committed the state file as %s", done.commit[:12])
        if done.push is not None:
            log.info("pushed to %s %s", done.push.target.remote, done.push.target.branch)

    return publish
