"""The published schemas of `plan --output json` and `reconcile --output json` accept what
the renderers print (the golden documents) and reject what they must not."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from jsonschema import ValidationError

from reconciler.core.correct import DriftOutcome
from reconciler.core.drift import Drift
from reconciler.core.model import Action, DriftKind
from reconciler.core.money import Money
from reconciler.core.outcome import Outcome
from reconciler.core.pass_report import PassReport
from reconciler.core.render_drift import pass_to_json
from reconciler.core.spend import Spend
from tests.support.golden import GOLDEN_DIR
from tests.support.output_schemas import PLAN_OUTPUT, RECONCILE_OUTPUT, SCHEMAS, validate_output


def test_the_golden_plan_conforms() -> None:
    validate_output(PLAN_OUTPUT, json.loads((GOLDEN_DIR / "plan.json").read_text()))


def test_the_golden_reconcile_pass_conforms() -> None:
    for line in (GOLDEN_DIR / "reconcile_pass.jsonl").read_text().splitlines():
        validate_output(RECONCILE_OUTPUT, json.loads(line))


def test_the_enums_serialise_exactly_the_words_the_schemas_publish() -> None:
    # The enums are the one spelling of each word: adding or renaming a member must
    # come with the schema change (and the contract's), never silently.
    plan = json.loads((SCHEMAS / PLAN_OUTPUT).read_text(encoding="utf-8"))
    passes = json.loads((SCHEMAS / RECONCILE_OUTPUT).read_text(encoding="utf-8"))
    change = plan["$defs"]["change"]["properties"]
    correction = passes["properties"]["corrections"]["items"]["properties"]
    assert change["action"]["enum"] == [action.value for action in Action]
    assert set(plan["properties"]["summary"]["required"]) == {action.value for action in Action}
    # A Change never carries unmanaged drift: unmanaged models never enter the plan.
    assert change["drift"]["enum"] == [k.value for k in DriftKind if k is not DriftKind.UNMANAGED]
    assert passes["$defs"]["drift"]["properties"]["kind"]["enum"] == [k.value for k in DriftKind]
    assert set(correction["result"]["enum"]) == {outcome.value for outcome in Outcome}


def test_a_secret_value_in_desired_is_rejected() -> None:
    document = json.loads((GOLDEN_DIR / "plan.json").read_text())
    document["changes"][0]["desired"]["hfToken"] = "hf_live_value"
    with pytest.raises(ValidationError):
        validate_output(PLAN_OUTPUT, document)


def test_a_create_without_desired_is_rejected() -> None:
    document = json.loads((GOLDEN_DIR / "plan.json").read_text())
    del document["changes"][0]["desired"]
    with pytest.raises(ValidationError):
        validate_output(PLAN_OUTPUT, document)


def test_changed_drift_with_bare_field_names_is_rejected() -> None:
    line = (GOLDEN_DIR / "reconcile_pass.jsonl").read_text().splitlines()[0]
    document = json.loads(line)
    changed = next(item for item in document["drift"] if item["kind"] == "changed")
    changed["fields"] = ["gpuCount"]
    with pytest.raises(ValidationError):
        validate_output(RECONCILE_OUTPUT, document)


@pytest.mark.parametrize("golden", ["plan_cost.json", "plan_cost_mixed.json"])
def test_the_golden_priced_plans_conform(golden: str) -> None:
    document = json.loads((GOLDEN_DIR / golden).read_text())
    assert "cost" in document["summary"] and "cost" in document["changes"][0]
    validate_output(PLAN_OUTPUT, document)


@pytest.mark.parametrize(
    ("where", "value"),
    [
        ("after", 2.95),  # a float: amounts are exact strings
        ("after", "2.950"),  # a trailing zero beyond the second decimal
        ("after", "2.9"),
        ("after", "-2.95"),  # a cost is never negative
        ("after", "2.9500000001"),  # beyond nanos
        ("difference", "2.95"),  # a non-zero difference is signed
        ("currency", "usd"),
        ("currency", "US"),
    ],
)
def test_a_cost_line_that_is_not_exact_is_rejected(where: str, value: object) -> None:
    document = json.loads((GOLDEN_DIR / "plan_cost_mixed.json").read_text())
    document["changes"][0]["cost"]["hourly"][0][where] = value
    with pytest.raises(ValidationError):
        validate_output(PLAN_OUTPUT, document)
    summary = json.loads((GOLDEN_DIR / "plan_cost_mixed.json").read_text())
    summary["summary"]["cost"]["monthly"][0][where] = value
    with pytest.raises(ValidationError):
        validate_output(PLAN_OUTPUT, summary)


def test_a_known_cost_without_its_lines_is_rejected() -> None:
    document = json.loads((GOLDEN_DIR / "plan_cost.json").read_text())
    del document["summary"]["cost"]["hourly"]
    with pytest.raises(ValidationError):
        validate_output(PLAN_OUTPUT, document)


def _pass(spend: Spend | None = None) -> dict[str, Any]:
    failed = Drift("beta", DriftKind.FAILED, "m-b", live_model_id="m-b", logs=("OOM", "exit 137"))
    report = PassReport(
        3,
        drift=(
            DriftOutcome(Drift("alpha", DriftKind.MISSING, "m-a"), corrected=False),
            DriftOutcome(failed, corrected=False),
        ),
        detect_only=True,
        spend=spend
        or Spend(
            {"USD": 2_950_000_001, "EUR": 4_000_000_000},
            models=2,
            unpriced=("gamma",),
            by_name={"alpha": Money("USD", 2_950_000_001)},
        ),
        revision="0123456789abcdef0123456789abcdef01234567",
    )
    return pass_to_json(report)


def test_a_pass_with_spend_revision_and_logs_conforms() -> None:
    document = _pass()
    assert {"spend", "revision"} <= document.keys()
    assert document["drift"][1]["logs"] == ["OOM", "exit 137"]
    validate_output(RECONCILE_OUTPUT, document)
    validate_output(RECONCILE_OUTPUT, _pass(spend=Spend({}, unknown_reason="no prices")))


@pytest.mark.parametrize(
    "spoil",
    [
        lambda d: d.update(revision="main"),
        lambda d: d["spend"]["hourly"][0].update(amount=4.0),
        lambda d: d["spend"]["hourly"][0].update(currency="euro"),
        lambda d: d["spend"].pop("models"),
        lambda d: d["drift"][0].update(logs=[]),  # logs belong to failed drift only
        lambda d: d["drift"][1].pop("logs"),
    ],
)
def test_a_pass_with_a_bad_spend_revision_or_logs_is_rejected(
    spoil: Callable[[dict[str, Any]], object],
) -> None:
    document = _pass()
    spoil(document)
    with pytest.raises(ValidationError):
        validate_output(RECONCILE_OUTPUT, document)
