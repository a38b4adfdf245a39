"""Strict JSON for the files we trust with model IDs: the state file, its journal, saved plans.

Python's json module takes what these files must never hold: duplicate keys (the last one
silently wins, so an entry's ID is dropped), NaN and Infinity, numbers like 1e999 that
become infinite, integers of any length (past 4,300 digits a bare ValueError) and nesting
deep enough to exhaust the stack (RecursionError). Each is refused here with one BadJson
saying what and where (line, column, JSON path). Syntax errors stay json.JSONDecodeError.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# Deeper than any document we write: a manifest's spec nests at most 100 levels
# (yaml_loader.MAX_DEPTH) and sits at most 5 levels down in a plan file. Far below the
# interpreter's recursion limit, so code walking a spec recursively stays safe.
MAX_DEPTH = 128
_INT64 = (-(2**63), 2**63 - 1)
_MAX_INT_CHARS = 20  # "-9223372036854775808"
_MAX_KEY_SHOWN = 40
_MAX_PATH_PARTS = 8
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class BadJson(Exception):
    """Well-formed JSON holding something refused; `where` is "line L column C ($.path)"."""

    def __init__(self, what: str, where: str = "") -> None:
        super().__init__(f"{what} at {where}" if where else what)
        self.what = what
        self.where = where


class _Refused(Exception):
    """Raised inside the decoder's hooks; located afterwards by _locate."""


def loads(text: str) -> Any:
    """The document in `text`; BadJson for refused content, JSONDecodeError for bad syntax."""
    try:
        document = _DECODER.decode(text)
    except (_Refused, RecursionError) as exc:
        located = _locate(text)
        raise located or BadJson(str(exc) or "nested too deeply") from None
    # A lone surrogate escape decodes to a str that cannot be printed or written as UTF-8.
    # The scan for its escape is cheap; only a hit pays for the exact, located check.
    if _SURROGATE_ESCAPE.search(text):
        located = _locate(text)
        if located is not None:
            raise located
    return document


def check_depth(text: str, values: Iterable[Any], *, depth: int) -> None:
    """Refuse (BadJson, located in `text`) any of `values`, each found at `depth` in the
    document (the root is depth 1), that nests deeper than MAX_DEPTH. One pass per level."""
    level = [v for v in values if isinstance(v, dict | list)]
    while level:
        if depth > MAX_DEPTH:
            raise _locate(text) or BadJson(f"nested deeper than {MAX_DEPTH} levels")
        nxt: list[Any] = []
        for value in level:
            items = value.values() if isinstance(value, dict) else value
            nxt.extend(item for item in items if isinstance(item, dict | list))
        level, depth = nxt, depth + 1


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _Refused("a duplicate key")
    return obj


def _int(literal: str) -> int:
    if len(literal) > _MAX_INT_CHARS or not _INT64[0] <= int(literal) <= _INT64[1]:
        raise _Refused("an integer outside the 64-bit range")
    return int(literal)


def _float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise _Refused("a number too large to represent")
    return value


def _constant(literal: str) -> float:
    raise _Refused(f"{literal}, which is not JSON")


_DECODER = json.JSONDecoder(
    object_pairs_hook=_pairs, parse_int=_int, parse_float=_float, parse_constant=_constant
)

# -- locating a refusal (only on the error path, so plain and iterative) ---------------

_TOKEN = re.compile(
    r"""[ \t\n\r]*(?:
      (?P<string>"(?:[^"\\]|\\.)*")
    | (?P<punct>[{}\[\],:])
    | (?P<number>-?(?:0|[1-9][0-9]*)(?P<real>(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?))
    | (?P<word>true|false|null|NaN|-?Infinity)
    )""",
    re.VERBOSE | re.DOTALL,
)


@dataclass
class _Frame:
    keys: set[str] | None  # None for an array
    index: int = 0
    key: str | None = None
    expect_key: bool = True


def _locate(text: str) -> BadJson | None:
    """The first refused thing in `text`, in document order, with its position."""
    stack: list[_Frame] = []
    pos = 0
    while True:
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            return None
        start, pos = match.start(match.lastgroup or 0), match.end()
        problem = _step(stack, match)
        if problem is not None:
            return BadJson(problem, _where(text, start, stack))


def _step(stack: list[_Frame], match: re.Match[str]) -> str | None:
    lexeme = match.group(match.lastgroup or 0)
    top = stack[-1] if stack else None
    if match.lastgroup == "punct":
        if lexeme in "{[":
            stack.append(_Frame(keys=set() if lexeme == "{" else None))
            if len(stack) > MAX_DEPTH:
                return f"nesting deeper than {MAX_DEPTH} levels"
        elif lexeme in "}]":
            if stack:
                stack.pop()
        elif lexeme == "," and top is not None:
            top.index += 1
            top.expect_key = top.keys is not None
        elif lexeme == ":" and top is not None:
            top.expect_key = False
        return None
    if match.lastgroup == "string":
        text = json.loads(lexeme) if "\\" in lexeme else lexeme
        if any("\ud800" <= char <= "\udfff" for char in text):
            return "a string with a lone UTF-16 surrogate escape, which is not text"
    if match.lastgroup == "string" and top is not None and top.keys is not None:
        if top.expect_key:
            key = json.loads(lexeme)
            top.key = key
            if key in top.keys:
                top.expect_key = False  # name the key in the path
                return f"the key {_show_key(key)} a second time in one object"
            top.keys.add(key)
        return None
    if match.lastgroup == "number":
        try:
            (_float if match.group("real") else _int)(lexeme)
        except _Refused as exc:
            return str(exc)
        return None
    if match.lastgroup == "word" and lexeme not in ("true", "false", "null"):
        return f"{lexeme}, which is not JSON"
    return None


def _where(text: str, offset: int, stack: list[_Frame]) -> str:
    line = text.count("\n", 0, offset) + 1
    column = offset - text.rfind("\n", 0, offset)
    parts = []
    for frame in stack:
        if frame.keys is None:
            parts.append(f"[{frame.index}]")
        elif frame.key is not None and not frame.expect_key:
            parts.append(f".{_show_key(frame.key, quoted=False)}")
    if len(parts) > _MAX_PATH_PARTS:
        parts = [*parts[:3], "…", *parts[-3:]]
    return f"line {line} column {column} ($" + "".join(parts) + ")"


def _show_key(key: str, *, quoted: bool = True) -> str:
    # Keys are names, not secrets, but a hostile file may hold anything: clip and escape.
    shown = key if len(key) <= _MAX_KEY_SHOWN else key[: _MAX_KEY_SHOWN - 1] + "…"
    shown = shown.encode("ascii", "backslashreplace").decode("ascii")
    shown = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in shown)
    return f'"{shown}"' if quoted else shown
