"""adapters/schema_files: one explainer of a schema failure, with validate's JSON paths."""

from __future__ import annotations

from typing import Any

from reconciler.adapters import schema_files
from reconciler.core.validate import format_json_path
from tests.core.test_schema_compile_state import _state


def _state_with_entry(name: str, **extra: Any) -> dict[str, Any]:
    state = _state()
    entry = state["entries"].pop("llama-8b")
    state["entries"][name] = {**entry, "name": name, **extra}
    return state


def test_a_state_problem_is_located_with_the_path_format_validate_shows() -> None:
    problem = schema_files.check_document("state.v1.json", _state_with_entry("7b-model", gpu=1))
    where = format_json_path(("entries", "7b-model"))
    assert where == "$.entries['7b-model']"
    assert problem == f"{where}: unexpected field(s): 'gpu' was unexpected"


def test_an_entry_name_with_a_dash_stays_dotted() -> None:
    problem = schema_files.check_document("state.v1.json", _state_with_entry("llama-8b", gpu=1))
    assert problem is not None and problem.startswith("$.entries.llama-8b: ")


def test_a_journal_record_is_explained_against_its_definition() -> None:
    record = {"op": "status", "name": "llama-8b", "payload": 3}
    problem = schema_files.describe_violation("state.v1.json", record, definition="journalRecord")
    assert problem is not None and problem.startswith("$")
    assert schema_files.describe_violation("state.v1.json", _state()) is None


def test_a_secret_pasted_into_a_state_is_never_echoed() -> None:
    pasted = "hf_" + "x" * 30
    state = _state_with_entry("llama-8b", status=pasted + "\n")
    problem = schema_files.check_document("state.v1.json", state)
    assert problem is not None and pasted not in problem
