"""The JSON Schemas in `schemas/*.json`: find and load them, check documents against them,
and explain a failure in one line.

Reads files only; knows nothing about what the documents mean. The rules of a manifest
are applied (and its problems worded) in core/validate.py, with the validators built here.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.core import schema_compile
from reconciler.core.errors import ReconcilerError
from reconciler.core.manifest_versions import VERSIONS
from reconciler.core.validate import SchemaValidator, compile_schema, format_json_path

if TYPE_CHECKING:
    # jsonschema ships no type information; its objects are Any to mypy.
    from jsonschema import Draft202012Validator  # type: ignore[import-untyped, unused-ignore]
    from jsonschema.exceptions import ValidationError  # type: ignore[import-untyped, unused-ignore]

_MAX_VALUE_CHARS = 60
# Under these keys even the names of unexpected fields are not shown.
_SECRET_KEYS = frozenset({"secrets", "fingerprint", "hfToken", "apiKey", "token"})


def schemas_dir() -> Traversable:
    """The installed wheel's `reconciler/schemas`, else the repository's `schemas/`."""
    packaged = files("reconciler") / "schemas"
    if packaged.is_dir():
        return packaged
    # Editable installs and source checkouts: the top-level folder beside the package.
    return Path(__file__).resolve().parents[2] / "schemas"


@functools.cache
def load_schema(file_name: str) -> Mapping[str, Any]:
    """The parsed schema `file_name` (e.g. "state.v1.json")."""
    path = schemas_dir() / file_name
    try:
        schema: Mapping[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ReconcilerError(
            f"cannot load the schema {file_name} from {path}: {exc}; "
            "the installation looks broken, reinstall tensormesh-reconciler"
        ) from exc
    return schema


@functools.cache
def load_validators() -> Mapping[str, SchemaValidator]:
    """apiVersion -> compiled manifest validator, for every supported manifest version."""
    return {
        api_version: compile_schema(load_schema(version.SCHEMA_FILE))
        for api_version, version in VERSIONS.items()
    }


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
    # Plain JSON Schema integers, as validator_for's jsonschema (which decides) has them.
    return schema_compile.compile_check(load_schema(name), strict_integers=False)


def check_document(name: str, instance: Any) -> str | None:
    """describe_violation against the whole schema `name`, but a valid document costs a
    compiled check (~50x cheaper than jsonschema on a 20,000-entry state, and jsonschema is
    not even imported); jsonschema runs only to explain a failure."""
    check = _fast_check(name)
    if check is not None and check(instance):
        return None
    return describe_violation(name, instance)


def describe_violation(name: str, instance: Any, *, definition: str | None = None) -> str | None:
    """One line naming the JSON path and what is wrong, or None when `instance` is valid
    against the schema `name` (or its `$defs` entry `definition`).

    Never dumps whole objects: values are named by type, short strings are clipped.
    """
    from jsonschema.exceptions import best_match

    errors = list(validator_for(name, definition).iter_errors(instance))
    if not errors:
        return None
    error = best_match(errors)
    # The path as `validate` shows a manifest's: `$.entries.a-b.spec`, `$.x[0]`, `$.y['7b']`.
    text = f"{format_json_path(tuple(error.absolute_path))}: {_what_is_wrong(error)}"
    if len(errors) > 1:
        text += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return text


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
