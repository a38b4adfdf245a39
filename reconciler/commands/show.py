"""`show PLANFILE`: print a saved plan as text, JSON or a pull-request comment. Reads only."""

from __future__ import annotations

import click

from reconciler.commands import output
from reconciler.core.exit_codes import EXIT_OK


@click.command("show")
@click.argument("plan_path", type=click.Path(dir_okay=False), metavar="PLANFILE")
@click.option(
    "--output",
    "output_format",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
    help="Human text, one JSON document, or a pull-request comment.",
)
def command(plan_path: str, output_format: str) -> int:
    """Print a saved plan file (from `plan --out`)."""
    from reconciler.adapters import plan_file
    from reconciler.core.render_json import dumps, plan_to_json

    saved = plan_file.read_plan_file(plan_path)
    if output_format == "json":
        document = plan_to_json(saved.plan)
        document["savedPlan"] = {
            "lineage": saved.lineage,
            "serial": saved.serial,
            "manifestsDigest": saved.manifests_digest,
            "prune": saved.prune,
            "toolVersion": saved.tool_version,
        }
        click.echo(dumps(document), nl=False)
        return EXIT_OK
    if output_format == "text":
        origin = "no state file" if saved.lineage is None else f"lineage {saved.lineage}"
        click.echo(
            f"Saved plan {plan_path}: made by tensormesh-reconciler {saved.tool_version} from "
            f"state serial {saved.serial} ({origin}), prune {'on' if saved.prune else 'off'}.\n"
        )
    output.emit_plan(saved.plan, output_format)
    return EXIT_OK
