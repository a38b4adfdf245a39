"""The `validate` command: check manifests offline and print every problem.

Thin: reading and checking is manifest_files; this only prints and picks the exit code.
"""

from __future__ import annotations

import json

import click

from reconciler import heap
from reconciler.adapters import manifest_files
from reconciler.core.exit_codes import EXIT_ERROR, EXIT_OK


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


@click.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option(
    "--output",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Human text, or one JSON document on stdout.",
)
def command(paths: tuple[str, ...], output: str) -> int:
    """Check manifests under PATH... offline and print every problem."""
    with heap.building_long_lived():
        desired, issues, file_count = manifest_files.check_manifests(paths)
    if output == "json":
        report = {
            "valid": not issues,
            "problems": [
                {
                    "file": issue.location.file,
                    "line": issue.location.line,
                    "column": issue.location.column,
                    "message": issue.message,
                    "path": issue.json_path,
                }
                for issue in issues
            ],
            "deployments": len(desired) if not issues else 0,
            "files": file_count,
        }
        click.echo(json.dumps(report, indent=2, sort_keys=True))
        return EXIT_ERROR if issues else EXIT_OK
    if issues:
        for issue in issues:
            click.echo(str(issue), err=True)
        bad_files = len({issue.location.file for issue in issues})
        click.echo(
            f"{_plural(len(issues), 'problem')} in {bad_files} of {_plural(file_count, 'file')}",
            err=True,
        )
        return EXIT_ERROR
    verb = "is" if len(desired) == 1 else "are"
    click.echo(
        f"{_plural(len(desired), 'deployment')} in {_plural(file_count, 'file')} {verb} valid"
    )
    return EXIT_OK
