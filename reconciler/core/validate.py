"""Step "validate": check parsed manifest documents and build the desired set.

Pure: the documents arrive parsed, the schemas compiled; nothing here reads files.
Messages never repeat the value of a secret field.
"""

from __future__ import annotations

import difflib
import functools
import posixpath
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from reconciler.core import schema_compile
from reconciler.core.manifest_versions import VERSIONS, JsonPath, Problem, supported_versions
from reconciler.core.model import DesiredModel, Issue, Location


class Locator(Protocol):
    """Finds where a path of a document sits in its file; only called to report a problem."""

    def locate(self, path: JsonPath, *, at_key: bool = False) -> Location: ...


@dataclass(frozen=True, slots=True)
class ManifestDocument:
    """One parsed YAML document of a manifest file."""

    file: str  # as the user named it (relative stays relative)
    index: int  # 0-based position among the file's documents
    content: Any
    locator: Locator

    @property
    def base_dir(self) -> str:
        return posixpath.dirname(self.file) or "."


class SchemaValidator(Protocol):
    def is_valid(self, instance: Any) -> bool: ...

    def iter_errors(self, instance: Any) -> Iterable[Any]: ...


def _is_strict_integer(checker: Any, instance: Any) -> bool:
    # YAML gives ints; 1.0 or true must not pass as a GPU count.
    return isinstance(instance, int) and not isinstance(instance, bool)


@functools.cache
def _strict_validator_class() -> Any:
    # Imported on first use: jsonschema takes ~60 ms to import, and a valid set of
    # manifests never needs it (the compiled check answers; jsonschema only explains).
    import jsonschema  # type: ignore[import-untyped, unused-ignore]

    type_checker = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", _is_strict_integer
    )
    strict = jsonschema.validators.extend(  # type: ignore[no-untyped-call, unused-ignore]
        jsonschema.Draft202012Validator, type_checker=type_checker
    )
    return schema_compile.with_ecma_patterns(strict)


def _explainer(schema: Mapping[str, Any]) -> SchemaValidator:
    validator: SchemaValidator = _strict_validator_class()(schema)
    return validator


class _FastValidator:
    """Answers is_valid with a compiled check; jsonschema, built on the first failure,
    explains the failures."""

    __slots__ = ("_check", "_explainer", "_schema")

    def __init__(self, check: Callable[[Any], bool], schema: Mapping[str, Any]) -> None:
        self._check = check
        self._schema = schema
        self._explainer: SchemaValidator | None = None

    def is_valid(self, instance: Any) -> bool:
        return self._check(instance)

    def iter_errors(self, instance: Any) -> Iterable[Any]:
        if self._explainer is None:
            self._explainer = _explainer(self._schema)
        return self._explainer.iter_errors(instance)


def compile_schema(schema: Mapping[str, Any]) -> SchemaValidator:
    """A reusable validator for one schema: compile once per run, not per document."""
    check = schema_compile.compile_check(schema)
    # jsonschema's own is_valid costs ~1 ms per manifest; the compiled check ~20x less.
    return _explainer(schema) if check is None else _FastValidator(check, schema)


@dataclass(frozen=True, slots=True)
class CheckResult:
    desired: tuple[DesiredModel, ...]  # sorted by name; only documents without problems
    issues: tuple[Issue, ...]  # sorted by file, line, column


def check_documents(
    documents: Sequence[ManifestDocument], validators: Mapping[str, SchemaValidator]
) -> CheckResult:
    """Check every document, then names across the set; report every problem found."""
    issues: list[Issue] = []
    desired: list[DesiredModel] = []
    for document in documents:
        problems = _check_one(document, validators)
        issues.extend(_to_issue(document, problem) for problem in problems)
        if not problems:
            version = VERSIONS[document.content["apiVersion"]]
            location = document.locator.locate(("metadata", "name"))
            desired.append(
                version.to_desired(document.content, location=location, base_dir=document.base_dir)
            )
    issues.extend(_duplicate_names(documents))
    return CheckResult(
        desired=tuple(sorted(desired, key=lambda model: model.name)),
        issues=tuple(sorted(set(issues))),
    )


def _check_one(
    document: ManifestDocument, validators: Mapping[str, SchemaValidator]
) -> list[Problem]:
    content = document.content
    if not isinstance(content, dict):
        return [
            Problem(
                (),
                f"a manifest document must be a mapping with apiVersion, kind, metadata "
                f"and spec, got {_type_name(content)}",
            )
        ]
    supported = ", ".join(supported_versions())
    if "apiVersion" not in content:
        return [Problem((), f"missing required field 'apiVersion' (supported: {supported})")]
    api_version = content["apiVersion"]
    if not isinstance(api_version, str) or api_version not in VERSIONS:
        return [
            Problem(
                ("apiVersion",),
                f"unknown apiVersion {api_version!r}; supported: {supported}",
            )
        ]
    version = VERSIONS[api_version]
    problems: list[Problem] = []
    validator = validators[api_version]
    # Fast path: almost every document is valid, and is_valid stops at nothing to explain.
    if not validator.is_valid(content):
        problems.extend(_schema_problems(validator.iter_errors(content), version.QUIET_PATHS))
    problems.extend(version.check_document(content))
    return problems


def _duplicate_names(documents: Sequence[ManifestDocument]) -> list[Issue]:
    first_seen: dict[str, Location] = {}
    issues = []
    for document in documents:
        content = document.content
        metadata = content.get("metadata") if isinstance(content, dict) else None
        name = metadata.get("name") if isinstance(metadata, dict) else None
        if not isinstance(name, str):
            continue
        location = document.locator.locate(("metadata", "name"))
        if name in first_seen:
            issues.append(
                Issue(
                    location,
                    f"duplicate name {name!r} (also defined at {first_seen[name]})",
                    "$.metadata.name",
                )
            )
        else:
            first_seen[name] = location
    return issues


def _to_issue(document: ManifestDocument, problem: Problem) -> Issue:
    location = document.locator.locate(problem.path, at_key=problem.at_key)
    return Issue(location, problem.message, format_json_path(problem.path))


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def format_json_path(path: JsonPath) -> str:
    """`$.spec.infra.cloudProvider`, `$.spec.modelSpec.args[0]`, `$.metadata.labels['a b']`."""
    parts = ["$"]
    for part in path:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        elif _IDENTIFIER.fullmatch(part):
            parts.append(f".{part}")
        else:
            parts.append(f"[{part!r}]")
    return "".join(parts)


# -- schema errors as short human messages -------------------------------------------------


def _schema_problems(errors: Iterable[Any], quiet_paths: Sequence[JsonPath]) -> list[Problem]:
    problems: list[Problem] = []
    type_failed: set[JsonPath] = set()
    collected = []
    for error in errors:
        path: JsonPath = tuple(error.absolute_path)
        if any(path[: len(quiet)] == quiet for quiet in quiet_paths):
            continue  # their own check words it, without echoing a possible secret
        if error.validator == "type":
            type_failed.add(path)
        collected.append((path, error))
    for path, error in collected:
        # A value of the wrong type fails enum/pattern too: the type message says it all.
        if error.validator != "type" and path in type_failed:
            continue
        problems.extend(_explain(path, error))
    return problems


_TYPE_NAMES = {
    "object": "mapping",
    "array": "list",
    "string": "string",
    "integer": "integer",
    "number": "number",
    "boolean": "boolean",
    "null": "null",
}


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "mapping"
    return type(value).__name__


def _explain(path: JsonPath, error: Any) -> list[Problem]:
    keyword = error.validator
    expected = error.validator_value
    instance = error.instance
    if keyword == "required":
        return [
            Problem(path, f"missing required field {field!r}")
            for field in expected
            if isinstance(instance, dict) and field not in instance
        ]
    if keyword == "additionalProperties" and isinstance(instance, dict):
        known = sorted(error.schema.get("properties", {}))
        return [
            Problem((*path, key), _unknown_field(key, known), at_key=True)
            for key in instance
            if key not in known
        ]
    if keyword == "type":
        wanted = expected if isinstance(expected, list) else [expected]
        names = " or ".join(_TYPE_NAMES.get(str(name), str(name)) for name in wanted)
        return [Problem(path, f"expected {names}, got {_type_name(instance)}")]
    if keyword == "enum":
        choices = ", ".join(str(choice) for choice in expected)
        return [Problem(path, f"{instance!r} is not one of {choices}")]
    if keyword == "const":
        return [Problem(path, f"expected {expected!r}, got {instance!r}")]
    if keyword == "minimum":
        return [Problem(path, f"must be at least {expected}, got {instance}")]
    if keyword == "maximum":
        return [Problem(path, f"must be at most {expected}, got {instance}")]
    if keyword == "pattern":
        hint = error.schema.get("errorMessage") or f"does not match {expected}"
        return [Problem(path, f"{instance!r} {hint}")]
    if keyword == "minLength":
        return [Problem(path, "must not be empty")]
    return [Problem(path, str(error.message))]


def _unknown_field(key: str, known: Sequence[str]) -> str:
    message = f"unknown field {key!r}"
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if close:
        message += f"; did you mean {close[0]!r}?"
    elif known:
        message += f" (allowed: {', '.join(known)})"
    return message
