"""A fast yes/no check compiled from a JSON Schema, for the common case of a valid manifest.

It understands only the keywords our manifest schemas use and gives up (returns None)
on anything else, so the caller falls back to jsonschema; jsonschema alone explains
failures. Pure: no I/O.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

Check = Callable[[Any], bool]

# Keywords that never affect validity.
_ANNOTATIONS = frozenset(
    {
        "$schema",
        "$id",
        "$defs",
        "$comment",
        "title",
        "description",
        "markdownDescription",
        "errorMessage",
        "default",
        "examples",
    }
)


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_TYPES: dict[str, Check] = {
    "object": lambda value: isinstance(value, dict),
    "array": lambda value: isinstance(value, list),
    "string": lambda value: isinstance(value, str),
    "integer": _is_integer,
    "number": _is_number,
    "boolean": lambda value: isinstance(value, bool),
    "null": lambda value: value is None,
}


class Unsupported(Exception):
    """The schema uses something this compiler does not handle exactly."""


def compile_check(schema: Mapping[str, Any]) -> Check | None:
    """A function telling whether an instance is valid, or None if the schema is beyond us."""
    try:
        return _Compiler(schema).compile(schema)
    except Unsupported:
        return None


_OBJECT_KEYWORDS = frozenset(
    {
        "type",
        "properties",
        "additionalProperties",
        "propertyNames",
        "required",
        "minProperties",
        "maxProperties",
    }
)
_STRING_KEYWORDS = frozenset({"type", "enum", "const", "pattern", "minLength", "maxLength"})


class _Compiler:
    def __init__(self, root: Mapping[str, Any]) -> None:
        self._root = root
        self._refs: dict[str, Check] = {}
        self._compiling: set[str] = set()

    def compile(self, schema: Any) -> Check:
        if schema is True:
            return lambda value: True
        if schema is False:
            return lambda value: False
        if not isinstance(schema, Mapping):
            raise Unsupported(repr(schema))
        keywords = {key: value for key, value in schema.items() if key not in _ANNOTATIONS}
        # Most manifest schemas are plain objects or strings: one closure each, no combinators.
        if keywords.get("type") == "object" and keywords.keys() <= _OBJECT_KEYWORDS:
            return self._object(keywords)
        if keywords.get("type") == "string" and keywords.keys() <= _STRING_KEYWORDS:
            return _string(keywords)
        checks: list[Check] = []
        for keyword, argument in keywords.items():
            make = getattr(self, "_kw_" + keyword.lstrip("$"), None)
            if make is None:
                raise Unsupported(keyword)
            checks.append(make(argument, schema))
        if len(checks) == 1:
            return checks[0]
        return lambda value: all(check(value) for check in checks)

    def _object(self, keywords: Mapping[str, Any]) -> Check:
        declared = keywords.get("properties", {})
        properties = {name: self.compile(sub) for name, sub in declared.items()}
        extra_schema = keywords.get("additionalProperties", True)
        extra = None if extra_schema is False else self.compile(extra_schema)
        required = tuple(keywords.get("required", ()))
        low = keywords.get("minProperties", 0)
        high = keywords.get("maxProperties")
        names = self.compile(keywords["propertyNames"]) if "propertyNames" in keywords else None

        def check(value: Any) -> bool:
            if not isinstance(value, dict):
                return False
            for name in required:
                if name not in value:
                    return False
            for key, item in value.items():
                sub = properties.get(key, extra)
                if sub is None or not sub(item):
                    return False
                if names is not None and not names(key):
                    return False
            return len(value) >= low and (high is None or len(value) <= high)

        return check

    def _kw_ref(self, ref: str, schema: Mapping[str, Any]) -> Check:
        prefix = "#/$defs/"
        if not ref.startswith(prefix) or "/" in ref[len(prefix) :] or ref in self._compiling:
            raise Unsupported(ref)  # remote or recursive: leave it to jsonschema
        if ref not in self._refs:
            self._compiling.add(ref)
            self._refs[ref] = self.compile(self._root["$defs"][ref[len(prefix) :]])
            self._compiling.discard(ref)
        return self._refs[ref]

    def _kw_type(self, names: str | list[str], schema: Mapping[str, Any]) -> Check:
        wanted = [_TYPES[name] for name in ([names] if isinstance(names, str) else names)]
        if len(wanted) == 1:
            return wanted[0]
        return lambda value: any(check(value) for check in wanted)

    def _kw_enum(self, choices: list[Any], schema: Mapping[str, Any]) -> Check:
        # Strings only: jsonschema's equality rules for bools and numbers differ from ==.
        if not all(isinstance(choice, str) for choice in choices):
            raise Unsupported("non-string enum")
        allowed = frozenset(choices)
        return lambda value: isinstance(value, str) and value in allowed

    def _kw_const(self, expected: Any, schema: Mapping[str, Any]) -> Check:
        if _is_integer(expected):
            # jsonschema: 1 == 1.0 but never true (booleans are not numbers).
            return lambda value: _is_number(value) and value == expected
        if not isinstance(expected, str):
            raise Unsupported("non-string const")
        return lambda value: isinstance(value, str) and value == expected

    def _kw_required(self, names: list[str], schema: Mapping[str, Any]) -> Check:
        wanted = tuple(names)
        return lambda value: not isinstance(value, dict) or all(name in value for name in wanted)

    def _kw_anyOf(self, subschemas: list[Any], schema: Mapping[str, Any]) -> Check:
        checks = [self.compile(sub) for sub in subschemas]
        return lambda value: any(check(value) for check in checks)

    def _kw_not(self, subschema: Any, schema: Mapping[str, Any]) -> Check:
        sub = self.compile(subschema)
        return lambda value: not sub(value)

    def _kw_minimum(self, limit: float, schema: Mapping[str, Any]) -> Check:
        return lambda value: not _is_number(value) or value >= limit

    def _kw_maximum(self, limit: float, schema: Mapping[str, Any]) -> Check:
        return lambda value: not _is_number(value) or value <= limit

    def _kw_items(self, items: Any, schema: Mapping[str, Any]) -> Check:
        sub = self.compile(items)
        return lambda value: not isinstance(value, list) or all(sub(item) for item in value)


def _string(keywords: Mapping[str, Any]) -> Check:
    if any(not isinstance(c, str) for c in keywords.get("enum", ())) or not isinstance(
        keywords.get("const", ""), str
    ):
        raise Unsupported("non-string enum or const")
    allowed = frozenset(keywords["enum"]) if "enum" in keywords else None
    const = keywords.get("const")
    search = compile_pattern(keywords["pattern"]).search if "pattern" in keywords else None
    low = keywords.get("minLength", 0)
    high = keywords.get("maxLength")

    def check(value: Any) -> bool:
        return (
            isinstance(value, str)
            and (allowed is None or value in allowed)
            and (const is None or value == const)
            and (search is None or search(value) is not None)
            and len(value) >= low
            and (high is None or len(value) <= high)
        )

    return check


@functools.lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> re.Pattern[str]:
    """A JSON Schema `pattern` (ECMA-262) as a Python regex with the same meaning for `$`.

    ECMA's `$` (no multiline flag) matches only at the very end; Python's also matches
    before a final newline, so `^[a-z]+$` would accept "a\\n" as a name. Every `$` outside
    a character class and not escaped becomes `\\Z`.
    """
    out: list[str] = []
    in_class = False
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            out.append(pattern[index : index + 2])
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "$":
            char = r"\Z"
        out.append(char)
        index += 1
    return re.compile("".join(out))


def with_ecma_patterns(validator_class: Any) -> Any:
    """`validator_class` (a jsonschema validator) whose `pattern` keyword uses
    compile_pattern, so that jsonschema and the compiled check agree on "a\\n"."""
    import jsonschema  # type: ignore[import-untyped, unused-ignore]

    def pattern(validator: Any, regex: str, instance: Any, schema: Any) -> Iterator[Any]:
        if validator.is_type(instance, "string") and not compile_pattern(regex).search(instance):
            # The instance is not quoted: it may be a secret pasted in the wrong place.
            yield jsonschema.ValidationError(f"does not match {regex!r}")

    return jsonschema.validators.extend(  # type: ignore[no-untyped-call, unused-ignore]
        validator_class, validators={"pattern": pattern}
    )
