"""Check documents against the published output schemas (schemas/*-output.v1.json)."""

from __future__ import annotations

import json
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from tests.support.sandbox import PROJECT_ROOT

SCHEMAS = PROJECT_ROOT / "schemas"
PLAN_OUTPUT = "plan-output.v1.json"
RECONCILE_OUTPUT = "reconcile-output.v1.json"


def _registry() -> Registry:
    resources = []
    for name in (PLAN_OUTPUT, RECONCILE_OUTPUT):
        contents = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
        resources.append((name, Resource.from_contents(contents)))
        resources.append((contents["$id"], Resource.from_contents(contents)))
    return Registry().with_resources(resources)


def validate_output(schema_name: str, document: Any) -> None:
    """Raise jsonschema.ValidationError naming the path when `document` does not conform."""
    schema = json.loads((SCHEMAS / schema_name).read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    Draft202012Validator(schema, registry=_registry()).validate(document)
