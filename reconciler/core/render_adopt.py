"""Render an adopt run: the summary table, the next steps, and the JSON document.

Pure. Names and IDs come from the API: anything unprintable in them (a hostile name with
terminal escapes) is shown escaped in text; JSON escapes it by itself.
"""

from __future__ import annotations

import shlex
from typing import Any

from reconciler.core.onboard import AdoptReport, AdoptResult, AdoptRow, SkipReason

_HEADERS = ("RESULT", "NAME", "MODEL ID", "STATUS", "FILE OR REASON")


def reason_text(row: AdoptRow, report: AdoptReport) -> str:
    """Why a model was skipped (or failed), in words, with the way out where there is one."""
    name, model_id = _show(row.live.model_name), _show(row.live.model_id)
    out = shlex.quote(report.out_dir)
    detail = _show(row.detail)
    texts = {
        SkipReason.ALREADY_OWNED: f"already owned by this state (entry {detail})",
        SkipReason.NAME_RECORDED: f"the state records this name for model {detail}; "
        f"`state rm {name}` first to adopt this one instead",
        SkipReason.OPEN_INTENT: "an interrupted apply of this state is resolving this name; "
        "run `apply` first",
        SkipReason.OTHER_STATE: f"carries the mark of another state (lineage {detail}), which "
        f"owns it; if that state is gone, `state import {name} {model_id}`",
        SkipReason.DELETED: "deleted; never adopted",
        SkipReason.FAILED_STATUS: f"{detail}: not adopted without --include-failed",
        SkipReason.INVALID_NAME: f"the name cannot be a manifest name: {detail}",
        SkipReason.DUPLICATE_NAME: f"{detail} listed models of different users share this "
        "name, and a state holds one model per name: adopt each user's with --user into a "
        "state of its own",
        SkipReason.DECLARED: f"a manifest already declares it ({detail}); record it with "
        f"`state import {name} {model_id} {out}`",
        SkipReason.INVALID_MANIFEST: f"its manifest would not pass validate: {detail}",
        SkipReason.FILE_EXISTS: f"{detail} exists and is never overwritten; move it away, or "
        f"record this model with `state import {name} {model_id} {out}`",
        SkipReason.WRITE_ERROR: detail,
    }
    return texts[row.reason] if row.reason is not None else ""


def render_adopt(report: AdoptReport) -> str:
    adopted = report.count(AdoptResult.ADOPTED)
    lines = [_headline(report, adopted), ""]
    if report.rows:
        lines += _table(report)
        lines.append("")
    lines += _notes(report)
    steps = next_steps(report)
    if steps:
        lines.append("Next steps:")
        lines += [f"  {number}. {step}" for number, step in enumerate(steps, start=1)]
    return "\n".join(lines).rstrip("\n") + "\n"


def _headline(report: AdoptReport, adopted: int) -> str:
    skipped, failed = report.count(AdoptResult.SKIPPED), report.count(AdoptResult.FAILED)
    counts = f"{skipped} skipped, {failed} failed"
    if report.not_selected:
        counts += f", {report.not_selected} not selected by --target/--exclude"
    if report.dry_run:
        return f"Dry run: would adopt {adopted}; {counts}. Nothing was written or recorded."
    return f"Adopted {adopted} into {report.out_dir} and {report.state_path}; {counts}."


def _table(report: AdoptReport) -> list[str]:
    table = [list(_HEADERS)]
    for row in report.rows:
        last = row.file if row.result is AdoptResult.ADOPTED else reason_text(row, report)
        if row.result is AdoptResult.ADOPTED and not row.written and not report.dry_run:
            last = f"{row.file} (already there, identical)"
        table.append(
            [
                row.result.value,
                _show(row.live.model_name),
                _show(row.live.model_id),
                _show(row.live.status),
                last or "",
            ]
        )
    widths = [max(len(line[col]) for line in table) for col in range(len(_HEADERS) - 1)]
    return [
        (
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=False))
            + "  "
            + line[-1]
        ).rstrip()
        for line in table
    ]


def _notes(report: AdoptReport) -> list[str]:
    adopted = [row for row in report.rows if row.result is AdoptResult.ADOPTED]
    if not adopted:
        return []
    notes = []
    assumed = sorted({field for row in adopted for field in row.assumed_secrets})
    if assumed:
        refs = ", ".join(f"{field} (${report.secret_envs[field]})" for field in assumed)
        notes.append(
            f"Secrets {refs} are recorded as assumed: fingerprints of the values set now, not "
            "verified (the API never returns secrets). See docs/adopt.md."
        )
    unreported = sorted({field for row in adopted for field in row.unreported})
    if unreported:
        notes.append(
            f"Not reported by the API, left commented out in each file: {', '.join(unreported)}. "
            "Set them to what the models were deployed with."
        )
    return [*notes, ""] if notes else []


def next_steps(report: AdoptReport) -> list[str]:
    """What to do after this run, as commands to type."""
    adopted = report.count(AdoptResult.ADOPTED)
    if not adopted:
        return []
    out, state = shlex.quote(report.out_dir), shlex.quote(report.state_path)
    if report.dry_run:
        return ["Run the same command without --dry-run to write the files and record the models."]
    flags = " ".join(map(shlex.quote, report.state_flags)) or f"--state {state}"
    added = f"{out} {state}" if report.state_in_repo else out
    return [
        f"Review the manifests in {out} (the commented-out fields are not reported by the API).",
        f"tensormesh-reconciler plan {out} {flags}   (shows no change)",
        f'git add {added} && git commit -m "Adopt running models"',
    ]


def adopt_to_json(report: AdoptReport) -> dict[str, Any]:
    """The `--output json` document (docs/adopt.md)."""
    return {
        "dryRun": report.dry_run,
        "out": report.out_dir,
        "state": report.state_path,
        "models": [_row_json(row, report) for row in report.rows],
        "summary": {
            "adopted": report.count(AdoptResult.ADOPTED),
            "skipped": report.count(AdoptResult.SKIPPED),
            "failed": report.count(AdoptResult.FAILED),
            "notSelected": report.not_selected,
        },
        "nextSteps": next_steps(report),
    }


def _row_json(row: AdoptRow, report: AdoptReport) -> dict[str, Any]:
    item: dict[str, Any] = {
        "name": row.live.model_name,
        "modelId": row.live.model_id,
        "userId": row.live.user_id,
        "status": row.live.status,
        "result": row.result.value,
    }
    if row.result is AdoptResult.ADOPTED:
        item["file"] = row.file
        item["written"] = row.written
        item["assumedSecrets"] = list(row.assumed_secrets)
        item["notReported"] = list(row.unreported)
    else:
        item["reasonCode"] = row.reason.value if row.reason else None
        item["reason"] = reason_text(row, report)
    return item


def _show(text: str | None) -> str:
    if text is None:
        return "-"
    return text if text.isprintable() else ascii(text)
