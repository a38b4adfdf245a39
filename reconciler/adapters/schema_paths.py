"""Schema lookup for the state file and journal: find, load and check against `schemas/*.json`.

Looks in the source tree's top-level `schemas/` first, then in the installed wheel
(`reconciler/schemas`). Reads files only; knows nothing about what the documents mean.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.core import schema_compile
from reconciler.core.errors import ReconcilerError

if TYPE_CHECKING:
    # jsonschema ships no type information; its objects are Any to mypy.
    from jsonschema import Draft202012Validator  # type: ignore[import-untyped, unused-ignore]
    from jsonschema.exceptions import ValidationError  # type: ignore[import-untyped, unused-ignore]

_SOURCE_DIR = Path(__file__).resolve().parents[2] / "schemas"
_MAX_VALUE_CHARS = 60
# Under these keys even the names of unexpected fields are not shown.
_SECRET_KEYS = frozenset({"secrets", "fingerprint", "hfToken", "apiKey", "token"})


@functools.cache
def load_schema(name: str) -> dict[str, Any]:
    """The parsed schema `name` (e.g. "state.v1.json")."""
    candidates: list[Any] = [_SOURCE_DIR / name, resources.files("reconciler") / "schemas" / name]
    for candidate in candidates:
        if candidate.is_file():
            loaded: dict[str, Any] = json.loads(candidate.read_text(encoding="utf-8"))
            return loaded
    raise ReconcilerError(
        f"schema {name} is missing from this installation (looked in {_SOURCE_DIR} and the "
        "package's schemas folder); reinstall tensormesh-reconciler"
    )


@functools.cache
def validator_for(name: str, definition: str | None = None) -> Draft202012Validator:
    """A validator for the whole schema, or for one of its `$defs` when `definition` is given."""
    # Imported here: jsonschema is slow to import and most commands never check a document.
    from jsonschema import Draft202012Validator

    schema = load_schema(name)
    if definition is not None:
        schema = {"$defs": schema["$defs"], "$ref": f"#/$defs/{definition}"}
    # `$` as JSON Schema means it: a fingerprint or id with a trailing newline is refused.
    validator: Draft202012Validator = schema_compile.with_ecma_patterns(Draft202012Validator)(
        schema
    )
    return validator


@functools.cache
def _fast_check(name: str) -> Callable[[Any], bool] | None:
    # Compiled once per process; None when the schema uses keywords the compiler leaves alone.
    return schema_compile.compile_check(load_schema(name))


def check_document(name: str, instance: Any) -> str | None:
    """Like describe_violation against the whole schema `name`, but a valid document costs a
    compiled check (~50x cheaper than jsonschema on a 20,000-entry state, and jsonschema is
    not even imported); jsonschema runs only to explain a failure."""
    check = _fast_check(name)
    if check is not None and check(instance):
        return None
    return describe_violation(validator_for(name), instance)


def describe_violation(validator: Draft202012Validator, instance: Any) -> str | None:
    """One line naming the JSON path and what is wrong, or None when the instance is valid.

    Never dumps whole objects: values are named by type, short strings are clipped.
    """
    from jsonschema.exceptions import best_match

    errors = list(validator.iter_errors(instance))
    if not errors:
        return None
    error = best_match(errors)
    text = f"{_json_path(error)}: {_what_is_wrong(error)}"
    if len(errors) > 1:
        text += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return text


def _json_path(error: ValidationError) -> str:
    # Dotted even for keys with '-' (entry names), which jsonschema would quote as ['a-b'].
    parts = [f"[{part}]" if isinstance(part, int) else f".{part}" for part in error.absolute_path]
    return "$" + "".join(parts)


def _what_is_wrong(error: ValidationError) -> str:
    kind = error.validator
    # A string is described, never shown: in a hand-edited file it may be a secret pasted
    # where a fingerprint or an ID belongs. Numbers, booleans and null are shown.
    shown = _describe(error.instance) if isinstance(error.instance, str) else _clip(error.instance)
    if kind == "type":
        return f"must be of type {error.validator_value}, not {_json_type(error.instance)}"
    if kind == "required":
        return str(error.message)
    if kind == "additionalProperties":
        if _secret_bearing(error):
            return "holds field(s) that are not allowed here"
        return f"unexpected field(s): {error.message.split('(')[-1].rstrip(')')}"
    if kind == "pattern":
        return f"{shown} does not match {error.validator_value}"
    if kind in ("const", "enum"):
        allowed = error.validator_value if kind == "enum" else [error.validator_value]
        return f"{shown} is not allowed; expected one of {allowed}"
    if kind == "not":
        return "holds a field that is not allowed here (secret values are never stored)"
    if kind in ("minimum", "minLength", "minProperties", "maxProperties"):
        return f"{shown} breaks {kind} {error.validator_value}"
    # Other keywords' messages may quote the instance; name the rule instead.
    return f"breaks the schema's {kind} rule"


def _secret_bearing(error: ValidationError) -> bool:
    return any(part in _SECRET_KEYS for part in error.absolute_path)


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return f"a string of {len(value)} character{'s' if len(value) != 1 else ''}"
    kind = _json_type(value)
    return f"an {kind}" if kind in ("object", "array") else f"a {kind}"


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def _clip(value: Any) -> str:
    if isinstance(value, dict | list):
        return f"an {_json_type(value)}" if isinstance(value, dict) else "an array"
    text = json.dumps(value)
    return text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 3] + '..."'
