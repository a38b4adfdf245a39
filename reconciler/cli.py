"""The command line: parses flags, calls one function per command, picks the exit code.

Subcommands live one per module in `reconciler.commands` and are imported only
when run, so `--help` and `validate` start fast. This is the one place where
errors become messages and exit codes (0 ok, 1 error, 2 changes with
--detailed-exitcode).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

import click

from reconciler import __version__
from reconciler.core.errors import ReconcilerError
from reconciler.core.exit_codes import EXIT_ERROR, EXIT_OK

# command name -> (module under reconciler.commands, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("validate", "Check manifests offline and print every problem."),
    "plan": ("plan", "Compare manifests with the recorded state and print the plan."),
    "apply": ("apply", "Carry the plan out and write the model IDs back to the state."),
    "show": ("show", "Print a saved plan file."),
    "reconcile": ("reconcile", "Detect drift against the live API and correct it."),
    "state": ("state", "Inspect and edit the recorded state."),
    "adopt": ("adopt", "Write manifests for running models and record them as owned."),
    "sandbox": ("sandbox", "Run the local Tensormesh control plane (for demos and tests)."),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module = importlib.import_module(f"reconciler.commands.{entry[0]}")
        command: click.Command = module.command
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Short help from the table, so listing commands imports none of them.
        with formatter.section("Commands"):
            formatter.write_dl([(name, help_text) for name, (_, help_text) in COMMANDS.items()])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tensormesh-reconciler")
def cli() -> None:
    """Declarative GitOps for Tensormesh model deployments: validate, plan, apply, reconcile."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command and return its exit code; never lets a traceback reach the user."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        result: Any = cli.main(args=args, prog_name="tensormesh-reconciler", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return EXIT_ERROR
    except click.UsageError as exc:
        # Usage errors exit 1, never click's 2: 2 means "changes" to pipelines. One line
        # (click's own display adds the usage and a hint), pointing at the command's help.
        where = exc.ctx.command_path if exc.ctx is not None else "tensormesh-reconciler"
        click.echo(f"error: {_one_line(exc.format_message())} (see `{where} --help`)", err=True)
        return EXIT_ERROR
    except click.ClickException as exc:
        click.echo(f"error: {_one_line(exc.format_message())}", err=True)
        return EXIT_ERROR
    except ReconcilerError as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_ERROR
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        return 130
    except BrokenPipeError:
        return EXIT_ERROR
    except Exception as exc:
        # A bug of ours: one line, no traceback (it could carry request data), unless asked.
        if os.environ.get("TENSORMESH_DEBUG"):
            raise
        click.echo(
            f"internal error: {type(exc).__name__} (a bug in tensormesh-reconciler; "
            "rerun with TENSORMESH_DEBUG=1 for details and report it)",
            err=True,
        )
        return EXIT_ERROR
    if isinstance(result, int):
        return result
    return EXIT_OK


def _one_line(text: str) -> str:
    # A flag's value may hold a line break; the message stays one line and shows it escaped.
    return " ".join(text.replace("\r", "\\r").splitlines())


def run() -> None:
    """Console-script entry point."""
    _skip_httpx_command_line_tool()
    sys.exit(main())


def _skip_httpx_command_line_tool() -> None:
    # httpx's __init__ imports its own CLI (httpx._main, with rich and pygments when they are
    # installed), ~40 ms of every start; this process never runs it. A None entry in
    # sys.modules makes that import raise ImportError, which httpx handles (a stub `main`).
    if "httpx" not in sys.modules:
        sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
