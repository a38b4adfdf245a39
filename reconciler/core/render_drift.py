"""A reconcile pass for people (a short table) and machines (one JSON object per line).

Pure; no timestamps, so the same pass renders the same bytes. Never sees secret values.
"""

from __future__ import annotations

import json
from typing import Any

from reconciler.core.correct import DriftOutcome
from reconciler.core.model import DriftKind
from reconciler.core.money import format_amount
from reconciler.core.outcome import EntryOutcome, Outcome
from reconciler.core.pass_report import PassReport
from reconciler.core.render_json import plan_to_json
from reconciler.core.spend import Spend, describe_spend


def pass_to_json(report: PassReport) -> dict[str, Any]:
    plan_json = plan_to_json(report.plan)
    drift_counts = {kind.value: 0 for kind in DriftKind}
    for item in report.drift:
        drift_counts[item.drift.kind.value] += 1
    corrections = [
        {
            "name": outcome.name,
            "action": outcome.action.value,
            "result": outcome.result.value,
            "modelId": outcome.model_id,
            "error": outcome.reason if outcome.failed else None,
        }
        for outcome in report.corrections
    ]
    document: dict[str, Any] = {
        "pass": report.number,
        "ok": report.ok,
        "detectOnly": report.detect_only,
        "interrupted": report.interrupted,
        "error": report.error,
        "drift": [_drift_to_json(item) for item in report.drift],
        "changes": plan_json["changes"],
        "excluded": plan_json["excluded"],  # entries --target/--exclude/--selector left out
        "corrections": corrections,
        "summary": {
            "drift": drift_counts,
            "changes": plan_json["summary"],
            "corrected": sum(1 for item in report.drift if item.corrected),
            "failed": sum(1 for outcome in report.corrections if outcome.failed),
        },
    }
    if report.spend is not None:
        document["spend"] = spend_to_json(report.spend)
    if report.revision is not None:
        document["revision"] = report.revision  # `reconcile --git`: the commit reconciled
    return document


def spend_to_json(spend: Spend) -> dict[str, Any]:
    """Amounts as exact decimal strings with their currency, one per currency."""
    if not spend.known:
        return {"known": False, "reason": spend.unknown_reason}
    return {
        "known": True,
        "hourly": [
            {"currency": currency, "amount": format_amount(nanos)}
            for currency, nanos in sorted(spend.hourly.items())
        ],
        "models": spend.models,
        "unpriced": list(spend.unpriced),
    }


def spend_line(spend: Spend) -> str:
    return f"Live spend: {describe_spend(spend)}."


def _drift_to_json(item: DriftOutcome) -> dict[str, Any]:
    drift = item.drift
    out: dict[str, Any] = {
        "name": drift.name,
        "kind": drift.kind.value,
        "modelId": drift.model_id,
        # `changed`: each field with its live and wanted value; other kinds have none.
        "fields": [
            {"field": value.field, "live": value.live, "wanted": value.wanted}
            for value in drift.values
        ],
        "fieldNames": [f for f in drift.fields if not f.startswith("(")],
        "corrected": item.corrected,
        "detail": drift.detail,
    }
    if drift.live_model_id is not None:
        out["liveModelId"] = drift.live_model_id
    if drift.status is not None:
        out["status"] = drift.status
    if item.reason is not None:
        out["reason"] = item.reason_text
    if drift.kind is DriftKind.FAILED:
        out["logs"] = list(drift.logs)  # the deployment's latest lines, oldest first
    return out


def pass_to_json_line(report: PassReport) -> str:
    """One compact line per pass (JSON Lines), keys sorted."""
    return json.dumps(pass_to_json(report), sort_keys=True, ensure_ascii=False) + "\n"


def render_pass(report: PassReport) -> str:
    """A one-line verdict, then one row per drift and per correction."""
    lines = [_headline(report)]
    outcomes = {o.name: o for o in report.corrections}
    rows = [_drift_row(item, outcomes.get(item.drift.name)) for item in report.drift]
    corrected = {item.drift.name for item in report.drift}
    rows += [
        (o.name, "(manifests)", o.action.value, _result_text(o.result, o.model_id, o.reason))
        for o in report.corrections
        if o.name not in corrected
    ]
    if rows:
        widths = [max(len(row[i]) for row in [*rows, _HEADER]) for i in range(3)]
        for row in [_HEADER, *rows]:
            cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
            lines.append("  " + "  ".join([*cells, row[3]]).rstrip())
    for item in report.drift:
        if item.drift.logs:
            lines.append(f"  recent logs of {item.drift.name}:")
            lines.extend(f"    {line}" for line in item.drift.logs)
    if report.spend is not None:
        lines.append(spend_line(report.spend))
    return "\n".join(lines) + "\n"


_HEADER = ("NAME", "DRIFT", "FIELDS", "CORRECTION")


def _headline(report: PassReport) -> str:
    head = f"Pass {report.number}: "
    if report.revision is not None:
        head = f"Pass {report.number} at {report.revision[:12]}: "
    if report.error is not None:
        return head + f"failed: {report.error}"
    corrected = sum(1 for item in report.drift if item.corrected)
    text = head + (f"{len(report.drift)} drift found" if report.drift else "no drift")
    if report.detect_only:
        text += " (detect only, nothing changed)"
    elif report.drift:
        text += f", {corrected} corrected"
    failed = sum(1 for outcome in report.corrections if outcome.failed)
    if failed:
        text += f", {failed} correction(s) failed"
    git = sum(1 for c in report.plan.changes if c.makes_api_call and c.drift is None)
    if git:
        text += f"; {git} change(s) from the manifests"
    if report.plan.excluded:
        text += f"; {report.plan.excluded} entries left out (--target/--exclude/--selector)"
    if report.interrupted:
        text += "; interrupted"
    return text + "."


def _drift_row(item: DriftOutcome, outcome: EntryOutcome | None) -> tuple[str, str, str, str]:
    drift = item.drift
    if drift.values:
        fields = ", ".join(
            f"{v.field}: {_show(v.live)} live, wanted {_show(v.wanted)}" for v in drift.values
        )
    else:
        fields = ",".join(f for f in drift.fields if not f.startswith("(")) or "-"
    if item.corrected:
        correction = "corrected" + (f": {outcome.result.value}" if outcome else "")
        if outcome is not None and outcome.model_id:
            correction += f" (model {outcome.model_id})"
    else:
        correction = f"not corrected: {item.reason_text}" if item.reason else "not corrected"
    return (drift.name, drift.kind.value, fields, correction)


def _show(value: object) -> str:
    return "(absent)" if value is None else json.dumps(value, sort_keys=True, ensure_ascii=False)


def _result_text(result: Outcome, model_id: str | None, reason: str | None) -> str:
    text = result.value + (f" (model {model_id})" if model_id else "")
    return text + (f": {reason}" if reason and result.failed else "")
