"""`adopt`: write manifests for the live models this state does not own yet, and record them.

Thin: parses flags into AdoptOptions, runs reconciler/adoption.py, prints the report.
Exit 0 when every selected model was adopted or skipped with a reason; 1 when a file
could not be written (or on any error before that).
"""

from __future__ import annotations

import json
import os
import re

import click

from reconciler.commands.options import api_url_option, lock_timeout_option, state_option
from reconciler.core.exit_codes import EXIT_ERROR, EXIT_OK
from reconciler.core.model import SECRET_FIELDS

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


@click.command("adopt")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    metavar="DIR",
    help="Folder for the manifests (one NAME.yaml per model; existing files are never touched).",
)
@state_option
@click.option(
    "--user",
    "users",
    multiple=True,
    metavar="ID",
    help="List this user's models (repeatable); default $TENSORMESH_USER_ID, else the token's.",
)
@click.option("--target", "targets", multiple=True, metavar="GLOB", help="Only matching names.")
@click.option("--exclude", "excludes", multiple=True, metavar="GLOB", help="Leave these out.")
@click.option(
    "--secret",
    "secrets",
    multiple=True,
    metavar="FIELD=ENVVAR",
    help="Write FIELD: {fromEnv: ENVVAR} and record the value's fingerprint as assumed.",
)
@click.option("--include-failed", is_flag=True, help="Also adopt models in a failed state.")
@click.option("--dry-run", is_flag=True, help="Print what would be written; write nothing.")
@click.option(
    "--output",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)
@click.option(
    "--schema-ref",
    metavar="PATH_OR_URL",
    help="The $schema of the editor comment (default: the nearest schemas/ folder, else $id).",
)
@api_url_option
@lock_timeout_option
def command(
    *,
    out_dir: str,
    state_path: str,
    users: tuple[str, ...],
    targets: tuple[str, ...],
    excludes: tuple[str, ...],
    secrets: tuple[str, ...],
    include_failed: bool,
    dry_run: bool,
    output_format: str,
    schema_ref: str | None,
    api_url: str | None,
    lock_timeout: float,
) -> int:
    """Write a manifest for each live model the state does not own, and record it as owned.

    Reads the API only (one list call per user); never deploys or deletes. A `plan` of
    DIR right after shows no change.
    """
    from reconciler import adoption
    from reconciler.session import Session, Settings

    for user in users:
        if not _UUID.fullmatch(user):
            raise click.UsageError(f"--user {user!r} is not a user id (a UUID)")
    options = adoption.AdoptOptions(
        out_dir=out_dir,
        users=users,
        targets=targets,
        excludes=excludes,
        secret_envs=parse_secrets(secrets),
        include_failed=include_failed,
        dry_run=dry_run,
        schema_ref=schema_ref,
    )
    resolved = Settings.resolve(
        os.environ, state_path=state_path, api_url=api_url, concurrency=1, lock_timeout=lock_timeout
    )
    with Session(resolved) as session:
        report = adoption.run_adopt(options, session)
    if output_format == "json":
        from reconciler.core.render_adopt import adopt_to_json

        click.echo(json.dumps(adopt_to_json(report), indent=2, sort_keys=True))
    else:
        from reconciler.core.render_adopt import render_adopt

        click.echo(render_adopt(report), nl=False)
    return EXIT_ERROR if report.failed else EXIT_OK


def parse_secrets(values: tuple[str, ...]) -> dict[str, str]:
    """`--secret FIELD=ENVVAR` flags as field -> variable; a bad one is a usage error."""
    parsed: dict[str, str] = {}
    for value in values:
        field, sep, env_name = value.partition("=")
        if not sep or field not in SECRET_FIELDS:
            raise click.UsageError(
                f"--secret {value!r}: expected FIELD=ENVVAR with FIELD one of "
                f"{', '.join(SECRET_FIELDS)} (e.g. --secret hfToken=HF_TOKEN)"
            )
        if not _ENV_NAME.fullmatch(env_name):
            raise click.UsageError(
                f"--secret {value!r}: {env_name!r} is not an environment variable name "
                "(letters, digits and '_')"
            )
        if field in parsed and parsed[field] != env_name:
            raise click.UsageError(f"--secret {field} is given twice, with different variables")
        parsed[field] = env_name
    return parsed
