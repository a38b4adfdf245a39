"""Step "read": turn manifest file bytes into plain Python documents, strictly.

YAML 1.2 core scalars only (no `yes`/`on` booleans, no timestamps, no sexagesimal or
implicit octal ints), no duplicate keys, no language tags, bounded alias expansion.
Nodes are composed in C (libyaml) when available; values are built here in one walk.
Values are held to what JSON and the API's int64 can carry: NaN, infinities and integers
outside int64 are refused wherever they appear. It checks no manifest rules: that is
core/validate.py.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.error import Mark
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import BaseResolver

from reconciler.core.manifest_versions import JsonPath
from reconciler.core.model import Issue, Location
from reconciler.core.validate import ManifestDocument, format_json_path

# A document may expand to at most this many nodes (aliases count every time they are
# used): a "billion laughs" file is refused after this much work, not after gigabytes.
MAX_NODES = 100_000
MAX_DEPTH = 100  # recursive aliases would otherwise recurse forever
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# Neither message repeats the value: it might sit where a secret belongs.
_OUT_OF_RANGE = "integer out of range: integers must fit in 64 bits (int64)"
_NOT_FINITE = "not a finite number: NaN and Infinity cannot be sent as JSON"
_NAME_PATH: JsonPath = ("metadata", "name")

_TAG = "tag:yaml.org,2002:"
NULL_TAG, BOOL_TAG, INT_TAG, FLOAT_TAG = (_TAG + t for t in ("null", "bool", "int", "float"))
STR_TAG, SEQ_TAG, MAP_TAG = _TAG + "str", _TAG + "seq", _TAG + "map"


_CORE_WORDS = {
    "": NULL_TAG,
    "~": NULL_TAG,
    **dict.fromkeys(("null", "Null", "NULL"), NULL_TAG),
    **dict.fromkeys(("true", "True", "TRUE", "false", "False", "FALSE"), BOOL_TAG),
}
_INT = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+").fullmatch
_FLOAT = re.compile(
    r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"
).fullmatch
_NUMBER_START = frozenset("-+.0123456789")


class CoreResolver(BaseResolver):
    """Implicit typing of plain scalars by the YAML 1.2 core schema, nothing else.

    Replaces PyYAML's table-driven resolve (called for every node, from C): a few
    dict and regex lookups are all the core schema needs.
    """

    def resolve(self, kind: type[Node], value: Any, implicit: Any) -> str:
        if kind is ScalarNode:
            if not implicit[0]:  # quoted: always a string
                return STR_TAG
            tag = _CORE_WORDS.get(value)
            if tag is not None:
                return tag
            if value[0] in _NUMBER_START:
                if _INT(value):
                    return INT_TAG
                if _FLOAT(value):
                    return FLOAT_TAG
            return STR_TAG
        return SEQ_TAG if kind is SequenceNode else MAP_TAG

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        return None  # no path resolvers: skip PyYAML's bookkeeping

    def ascend_resolver(self) -> None:
        return None


if yaml.__with_libyaml__:
    from yaml._yaml import CParser as _Parser
else:  # pragma: no cover - only without libyaml
    from yaml.composer import Composer
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Parser(Reader, Scanner, Parser, Composer):  # type: ignore[no-redef]
        def __init__(self, stream: str) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)
            Composer.__init__(self)


class _StrictComposer(_Parser, CoreResolver):
    def __init__(self, stream: str) -> None:
        _Parser.__init__(self, stream)
        CoreResolver.__init__(self)


class LoadError(Exception):
    """A problem at one node; becomes an Issue of the document being read."""

    def __init__(self, node: Node, message: str, path: JsonPath = ()) -> None:
        super().__init__(message)
        self.node = node
        self.message = message
        self.path = path


@dataclass(frozen=True, slots=True)
class LoadResult:
    documents: tuple[ManifestDocument, ...]
    issues: tuple[Issue, ...]


def load_file_bytes(data: bytes, file: str) -> LoadResult:
    """Every non-empty document of one file, or the issues that stopped it."""
    text_or_issue = _decode(data, file)
    if isinstance(text_or_issue, Issue):
        return LoadResult((), (text_or_issue,))
    return load_text(text_or_issue, file)


def load_text(text: str, file: str) -> LoadResult:
    documents: list[ManifestDocument] = []
    issues: list[Issue] = []
    composer = _StrictComposer(text)
    try:
        index = 0
        ordinal = -1  # counts empty documents too, so the locator can find the node again
        while composer.check_node():
            root = composer.get_node()
            ordinal += 1
            if root is None or _is_empty(root):
                continue
            builder = _Builder()
            try:
                content = builder.build(root)
            except LoadError as exc:
                exc.path = tuple(builder.path)
                builder.problems.append(exc)
            else:
                if builder.bad_values:
                    # Each bad number is reported once, here; the schema would only repeat it.
                    issues.extend(_issues(file, builder.problems))
                    index += 1
                    continue
                # A duplicate key is reported but not fatal: the rest is still checked.
                locator = NodeLocator(file, text, ordinal, builder.name_location)
                documents.append(ManifestDocument(file, index, content, locator))
            issues.extend(_issues(file, builder.problems))
            index += 1
    except yaml.MarkedYAMLError as exc:
        issues.append(_syntax_issue(exc, file))
    except yaml.YAMLError as exc:
        issues.append(_reader_issue(exc, text, file))
    finally:
        composer.dispose()
    return LoadResult(tuple(documents), tuple(issues))


def _issues(file: str, problems: list[LoadError]) -> list[Issue]:
    return [
        Issue(_mark(file, problem.node), problem.message, format_json_path(problem.path))
        for problem in problems
    ]


def _decode(data: bytes, file: str) -> str | Issue:
    nul = data.find(b"\0")
    if nul >= 0:
        return Issue(
            _byte_location(data, nul, file),
            "not a YAML text file (binary content: NUL byte); manifests must be UTF-8 YAML",
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return Issue(
            _byte_location(data, exc.start, file),
            f"not valid UTF-8 (byte 0x{data[exc.start]:02x}); save the manifest as UTF-8",
        )


def _byte_location(data: bytes, offset: int, file: str) -> Location:
    line_start = data.rfind(b"\n", 0, offset) + 1
    return Location(file, data.count(b"\n", 0, offset) + 1, offset - line_start + 1)


def _syntax_issue(exc: yaml.MarkedYAMLError, file: str) -> Issue:
    mark = exc.problem_mark or exc.context_mark
    location = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file)
    problem = exc.problem or "invalid YAML"
    if exc.context:
        problem = f"{problem} ({exc.context})"
    return Issue(location, f"invalid YAML: {problem}", "$")


def _reader_issue(exc: yaml.YAMLError, text: str, file: str) -> Issue:
    # ReaderError (control characters) carries a character offset, not a mark.
    position = getattr(exc, "position", 0)
    line_start = text.rfind("\n", 0, position) + 1
    location = Location(file, text.count("\n", 0, position) + 1, position - line_start + 1)
    reason = getattr(exc, "reason", "unreadable characters")
    return Issue(location, f"invalid YAML: {reason}", "$")


def _is_empty(root: Node) -> bool:
    return isinstance(root, ScalarNode) and root.tag == NULL_TAG


def _mark(file: str, node: Node) -> Location:
    return Location(file, node.start_mark.line + 1, node.start_mark.column + 1)


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_TAG) :] if tag.startswith(_TAG) else tag


def _to_int(text: str) -> int:
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text)


def _to_float(text: str) -> float:
    lowered = text.lower()
    if lowered.endswith(".inf"):
        return -math.inf if lowered.startswith("-") else math.inf
    if lowered == ".nan":
        return math.nan
    return float(text)


_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_SCALARS: dict[str, Callable[[str], Any]] = {
    STR_TAG: str,
    INT_TAG: _to_int,
    FLOAT_TAG: _to_float,
    BOOL_TAG: _BOOLS.__getitem__,
    NULL_TAG: lambda text: None,
}


class _Builder:
    """Builds plain values from one document's node graph, counting every node visited."""

    __slots__ = ("bad_values", "count", "name_location", "path", "problems")

    def __init__(self) -> None:
        self.bad_values = 0  # NaN, infinities, integers beyond int64: the document is refused
        self.count = 0
        self.name_location: Mark | None = None
        self.problems: list[LoadError] = []
        self.path: list[str | int] = []  # where the walk is, for messages

    def build(self, node: Node, depth: int = 0) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise LoadError(
                node,
                f"document expands to more than {MAX_NODES} nodes (alias bomb?); "
                "write the values out or use fewer aliases",
            )
        if depth > MAX_DEPTH:
            raise LoadError(node, f"nested deeper than {MAX_DEPTH} levels (recursive alias?)")
        if isinstance(node, ScalarNode):
            return self._scalar(node)
        if isinstance(node, SequenceNode):
            if node.tag != SEQ_TAG:
                raise LoadError(node, f"unsupported tag {_short_tag(node.tag)!r}")
            items = []
            for index, item in enumerate(node.value):
                self.path.append(index)
                items.append(self.build(item, depth + 1))
                self.path.pop()
            return items
        if isinstance(node, MappingNode):
            return self._mapping(node, depth)
        raise LoadError(node, "unsupported YAML node")  # pragma: no cover

    def _scalar(self, node: ScalarNode) -> Any:
        convert = _SCALARS.get(node.tag)
        if convert is None:
            raise LoadError(
                node, f"unsupported tag {_short_tag(node.tag)!r}; only plain YAML values are read"
            )
        try:
            value = convert(node.value)
        except (ValueError, KeyError) as exc:
            if convert is _to_int and _INT(node.value):
                # Over Python's 4300-digit limit for int(): far beyond int64 anyway.
                self._bad_value(node, _OUT_OF_RANGE)
                return None
            raise LoadError(node, f"value is not a valid {_short_tag(node.tag)}") from exc
        if convert is _to_int and not INT64_MIN <= value <= INT64_MAX:
            self._bad_value(node, _OUT_OF_RANGE)
        elif convert is _to_float and not math.isfinite(value):
            self._bad_value(node, _NOT_FINITE)
        return value

    def _bad_value(self, node: ScalarNode, message: str) -> None:
        # Recorded, not raised: every bad number of the document is reported at once.
        self.bad_values += 1
        self.problems.append(LoadError(node, message, tuple(self.path)))

    def _mapping(self, node: MappingNode, depth: int) -> dict[str, Any]:
        if node.tag != MAP_TAG:
            raise LoadError(node, f"unsupported tag {_short_tag(node.tag)!r}")
        result: dict[str, Any] = {}
        first_lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                raise LoadError(key_node, "mapping keys must be plain scalars")
            if key_node.tag not in _SCALARS:
                raise LoadError(key_node, f"unsupported tag {_short_tag(key_node.tag)!r}")
            # Keys are names: kept as written, so `on:` or `1:` stay the text the user typed.
            key = key_node.value
            if key in result:
                self.problems.append(
                    LoadError(
                        key_node,
                        f"duplicate key {key!r} (first defined on line {first_lines[key]}); "
                        "remove one of them",
                        (*self.path, key),
                    )
                )
                continue
            first_lines[key] = key_node.start_mark.line + 1
            if depth == 1 and key == "name" and self.path == ["metadata"]:
                self.name_location = value_node.start_mark
            self.path.append(key)
            result[key] = self.build(value_node, depth + 1)
            self.path.pop()
        return result


class NodeLocator:
    """Finds a JSON path's node in a document, only when a position is asked for.

    It keeps the text, not the node graph, and composes the document again on first
    use: holding every file's nodes alive makes Python's cyclic GC the main cost of
    validating a large, valid set.
    """

    __slots__ = ("_file", "_name_mark", "_ordinal", "_root", "_text")

    def __init__(self, file: str, text: str, ordinal: int, name_mark: Mark | None) -> None:
        self._file = file
        self._text = text
        self._ordinal = ordinal
        # metadata.name is asked for every entry (its location): known without recomposing.
        self._name_mark = name_mark
        self._root: Node | None = None

    def _compose(self) -> Node:
        if self._root is None:
            composer = _StrictComposer(self._text)
            root: Node | None = None
            try:
                for _ in range(self._ordinal + 1):
                    composer.check_node()  # consumes the stream start before the first node
                    root = composer.get_node()
            finally:
                composer.dispose()
            assert root is not None  # the same text gave this document before
            self._root = root
        return self._root

    def locate(self, path: JsonPath, *, at_key: bool = False) -> Location:
        if path == _NAME_PATH and not at_key and self._name_mark is not None:
            return Location(self._file, self._name_mark.line + 1, self._name_mark.column + 1)
        node = self._compose()
        for position, part in enumerate(path):
            last = position == len(path) - 1
            child = self._child(node, part, at_key=at_key and last)
            if child is None:
                break  # the deepest existing node is the best place to point at
            node = child
        return _mark(self._file, node)

    @staticmethod
    def _child(node: Node, part: str | int, *, at_key: bool) -> Node | None:
        if isinstance(node, MappingNode):
            for key_node, value_node in node.value:
                if isinstance(key_node, ScalarNode) and key_node.value == part:
                    found: Node = key_node if at_key else value_node
                    return found
        elif (
            isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value)
        ):
            item: Node = node.value[part]
            return item
        return None
