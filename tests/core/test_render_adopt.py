"""What adopt prints, text and JSON, held in golden files."""

from __future__ import annotations

import json

from reconciler.core.model import LiveModel
from reconciler.core.onboard import AdoptReport, AdoptResult, AdoptRow, SkipReason
from reconciler.core.render_adopt import adopt_to_json, render_adopt
from tests.support.builders import BASE_SPEC
from tests.support.golden import assert_golden

USER = "3f0c6d2e-8a1b-4c5d-9e7f-0a1b2c3d4e5f"
UNREPORTED = ("kvCacheEnabled", "cpuOffloadingEnabled", "nodeId", "apiKey")


def live(name: str, number: int, status: str = "MODEL_STATUS_UP") -> LiveModel:
    model_id = f"00000000-0000-4000-8000-{number:012d}"
    return LiveModel(model_id, name, status, dict(BASE_SPEC), user_id=USER)


def report(*, dry_run: bool = False) -> AdoptReport:
    adopted = AdoptRow(
        live("llama-8b-chat", 1),
        AdoptResult.ADOPTED,
        file="deploy/models/llama-8b-chat.yaml",
        written=not dry_run,
        assumed_secrets=("hfToken",),
        unreported=UNREPORTED,
    )
    rows = (
        AdoptRow(live("Bad_Name\x1b[0m", 2), AdoptResult.SKIPPED, SkipReason.INVALID_NAME,
                 "it holds characters other than lowercase letters, digits and '-' ('B')"),
        AdoptRow(live("broken", 3, "MODEL_STATUS_FAILED"), AdoptResult.SKIPPED,
                 SkipReason.FAILED_STATUS, "MODEL_STATUS_FAILED"),
        AdoptRow(live("kept", 4), AdoptResult.SKIPPED, SkipReason.FILE_EXISTS,
                 "deploy/models/kept.yaml"),
        adopted,
        AdoptRow(live("qwen-32b", 5), AdoptResult.SKIPPED, SkipReason.ALREADY_OWNED, "qwen-32b"),
    )  # fmt: skip
    return AdoptReport(
        rows=rows,
        not_selected=2,
        out_dir="deploy/models",
        state_path="tensormesh.state.json",
        dry_run=dry_run,
        secret_envs={"hfToken": "HF_TOKEN"},
    )


def test_text_report() -> None:
    text = render_adopt(report())
    assert "\x1b" not in text
    assert_golden("adopt.txt", text)
    dry = render_adopt(report(dry_run=True))
    assert dry.startswith("Dry run: would adopt 1;") and "without --dry-run" in dry


def test_json_report() -> None:
    document = adopt_to_json(report())
    assert_golden("adopt.json", json.dumps(document, indent=2, sort_keys=True) + "\n")
    assert document["summary"] == {"adopted": 1, "skipped": 4, "failed": 0, "notSelected": 2}


def test_nothing_to_adopt_prints_no_next_steps() -> None:
    empty = AdoptReport((), 0, "m", "s.json", False, {})
    assert render_adopt(empty) == "Adopted 0 into m and s.json; 0 skipped, 0 failed.\n"
    assert adopt_to_json(empty)["nextSteps"] == []


def test_a_database_state_is_named_by_its_flags_and_never_committed() -> None:
    from dataclasses import replace

    from reconciler.core.render_adopt import next_steps

    shown = "postgresql://reconciler:***@db:5432/tm (workspace prod)"
    steps = next_steps(
        replace(
            report(),
            state_path=shown,
            state_flags=(
                "--state",
                "postgresql://reconciler:***@db:5432/tm",
                "--workspace",
                "prod",
            ),
            state_in_repo=False,
        )
    )
    assert steps[1].startswith(
        "tensormesh-reconciler plan deploy/models --state "
        "'postgresql://reconciler:***@db:5432/tm' --workspace prod"
    )
    assert steps[2] == 'git add deploy/models && git commit -m "Adopt running models"'
