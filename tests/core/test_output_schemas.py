"""The published schemas of `plan --output json` and `reconcile --output json` accept what
the renderers print (the golden documents) and reject what they must not."""

from __future__ import annotations

import json

import pytest
from jsonschema import ValidationError

from tests.support.golden import GOLDEN_DIR
from tests.support.output_schemas import PLAN_OUTPUT, RECONCILE_OUTPUT, validate_output


def test_the_golden_plan_conforms() -> None:
    validate_output(PLAN_OUTPUT, json.loads((GOLDEN_DIR / "plan.json").read_text()))


def test_the_golden_reconcile_pass_conforms() -> None:
    for line in (GOLDEN_DIR / "reconcile_pass.jsonl").read_text().splitlines():
        validate_output(RECONCILE_OUTPUT, json.loads(line))


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
