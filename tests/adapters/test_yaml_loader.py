"""The strict YAML loader: YAML 1.2 core scalars, refusals, positions, alias bounds."""

from __future__ import annotations

import time
from typing import Any

import pytest

from reconciler.adapters import yaml_loader
from reconciler.core.model import Location


def load_one(text: str) -> Any:
    result = yaml_loader.load_text(text, "m.yaml")
    assert result.issues == ()
    assert len(result.documents) == 1
    return result.documents[0].content


def only_issue(text: str | bytes) -> tuple[str, str]:
    if isinstance(text, str):
        result = yaml_loader.load_text(text, "m.yaml")
    else:
        result = yaml_loader.load_file_bytes(text, "m.yaml")
    assert len(result.issues) == 1, result.issues
    issue = result.issues[0]
    return str(issue.location), issue.message


@pytest.mark.parametrize(
    ("scalar", "expected"),
    [
        ("true", True),
        ("True", True),
        ("TRUE", True),
        ("false", False),
        ("FALSE", False),
        ("yes", "yes"),
        ("no", "no"),
        ("on", "on"),
        ("off", "off"),
        ("y", "y"),
        ("tRue", "tRue"),
        ("~", None),
        ("null", None),
        ("", None),
        ("12", 12),
        ("-3", -3),
        ("+7", 7),
        ("0777", 777),  # YAML 1.2: decimal, no implicit octal
        ("0o17", 15),
        ("0x1F", 31),
        ("1:30", "1:30"),  # no sexagesimal
        ("190:20:30", "190:20:30"),
        ("1.5", 1.5),
        ("1e3", 1000.0),
        (".5", 0.5),
        ("2024-01-02", "2024-01-02"),  # no timestamps
        ("2001-12-14t21:59:43.10-05:00", "2001-12-14t21:59:43.10-05:00"),
        ("'true'", "true"),
        ('"12"', "12"),
        ("1_000", "1_000"),
        ("!!str 12", "12"),
        ("!!int '12'", 12),
        ("!!bool true", True),
        ("GPU_TYPE_H100", "GPU_TYPE_H100"),
    ],
)
def test_scalars_follow_the_yaml_1_2_core_schema(scalar: str, expected: Any) -> None:
    value = load_one(f"v: {scalar}\n")["v"]
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    "scalar", [".inf", "-.inf", "+.INF", ".nan", ".NaN", "1e999", "-1e400", "!!float .inf"]
)
def test_non_finite_floats_are_read_as_floats_and_refused(scalar: str) -> None:
    # The core schema makes these floats (not strings); JSON cannot carry them.
    where, message = only_issue(f"a: 1\nv: {scalar}\n")
    assert where == "m.yaml:2:4"
    assert message.startswith("not a finite number")
    assert yaml_loader.load_text(f"v: '{scalar}'\n", "m.yaml").issues == ()  # quoted: a string


@pytest.mark.parametrize(
    "scalar",
    [
        "9223372036854775808",
        "-9223372036854775809",
        "0x8000000000000000",
        "9" * 5000,
        "0o" + "7" * 30,
    ],
)
def test_integers_beyond_int64_are_refused(scalar: str) -> None:
    where, message = only_issue(f"v: {{deep: [1, {scalar}]}}\n")
    assert where == "m.yaml:1:15"
    assert message.startswith("integer out of range")
    assert scalar[:20] not in message


@pytest.mark.parametrize("scalar", ["9223372036854775807", "-9223372036854775808", "1e308"])
def test_the_int64_and_float_limits_themselves_are_read(scalar: str) -> None:
    assert load_one(f"v: {scalar}\n")["v"] == (float(scalar) if "e" in scalar else int(scalar))


def test_every_bad_number_of_a_document_is_reported_and_the_document_dropped() -> None:
    result = yaml_loader.load_text(
        "a: .nan\nb: [1, .inf]\nc: {d: 99999999999999999999}\n", "m.yaml"
    )
    assert [issue.json_path for issue in result.issues] == ["$.a", "$.b[1]", "$.c.d"]
    assert result.documents == ()


def test_keys_stay_the_text_written() -> None:
    assert load_one("on: 1\nyes: 2\n3: 4\nnull: 5\n") == {"on": 1, "yes": 2, "3": 4, "null": 5}


def test_nested_values_and_aliases_are_plain_python() -> None:
    content = load_one("base: &b {a: [1, 2]}\ncopy: *b\n")
    assert content == {"base": {"a": [1, 2]}, "copy": {"a": [1, 2]}}
    assert type(content["copy"]) is dict


@pytest.mark.parametrize(
    ("text", "where", "fragment"),
    [
        ("a: 1\nb: 2\na: 3\n", "m.yaml:3:1", "duplicate key 'a' (first defined on line 1)"),
        ("a:\n  b: 1\n  b: 1\n", "m.yaml:3:3", "duplicate key 'b'"),
        ("x: !!python/object:os.system ls\n", "m.yaml:1:4", "unsupported tag '!!python/object"),
        ("x: !!python/name:os.system\n", "m.yaml:1:4", "unsupported tag"),
        ("x: !!binary aGVsbG8=\n", "m.yaml:1:4", "unsupported tag '!!binary'"),
        ("x: !!timestamp 2001-01-01\n", "m.yaml:1:4", "unsupported tag '!!timestamp'"),
        ("x: !custom 1\n", "m.yaml:1:4", "unsupported tag '!custom'"),
        ("x: !!set {a, b}\n", "m.yaml:1:4", "unsupported tag '!!set'"),
        ("x: !!omap [a: 1]\n", "m.yaml:1:4", "unsupported tag '!!omap'"),
        ("x: !!int twelve\n", "m.yaml:1:4", "not a valid !!int"),
        ("? [a, b]\n: 1\n", "m.yaml:1:3", "mapping keys must be plain scalars"),
        ("a: [1, 2\nb: 3\n", "m.yaml:2:2", "invalid YAML"),
        ("a: b: c\n", "m.yaml:1:5", "invalid YAML: mapping values are not allowed"),
        ("a: *nowhere\n", "m.yaml:1:4", "invalid YAML: found undefined alias"),
        ("a: \x07\n", "m.yaml:1:4", "invalid YAML: control characters are not allowed"),
        ("a: &x [1, *x]\n", "m.yaml:1:8", "nested deeper than 100 levels"),
    ],
)
def test_refusals_point_at_the_offending_place(text: str, where: str, fragment: str) -> None:
    location, message = only_issue(text)
    assert location == where
    assert fragment in message


@pytest.mark.parametrize(
    ("data", "where", "fragment"),
    [
        (b"a: 1\x00\n", "m.yaml:1:5", "binary content"),
        (b"\x89PNG\r\n", "m.yaml:1:1", "not valid UTF-8 (byte 0x89)"),
        (b"a: 1\nb: caf\xe9\n", "m.yaml:2:7", "not valid UTF-8 (byte 0xe9)"),
    ],
)
def test_non_text_files_are_refused(data: bytes, where: str, fragment: str) -> None:
    assert only_issue(data)[0] == where
    assert fragment in only_issue(data)[1]


def test_utf8_bom_and_non_ascii_are_fine() -> None:
    result = yaml_loader.load_file_bytes("\ufeffd: café ✓\n".encode(), "m.yaml")
    assert result.documents[0].content == {"d": "café ✓"}


def billion_laughs(levels: int = 9) -> str:
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, levels + 1):
        lines.append(f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_after_bounded_work() -> None:
    started = time.perf_counter()
    location, message = only_issue(billion_laughs())
    assert time.perf_counter() - started < 2  # generous: the unbounded walk takes hours
    assert "expands to more than 100000 nodes" in message
    assert location.startswith("m.yaml:")


def test_moderate_alias_use_is_accepted() -> None:
    content = load_one(billion_laughs(levels=3))
    assert len(content["l3"]) == 9 and len(content["l3"][0][0]) == 9


def test_documents_empty_and_multiple() -> None:
    text = "---\n---\n# nothing\n---\na: 1\n---\n~\n---\nb: 2\n...\n"
    result = yaml_loader.load_text(text, "m.yaml")
    assert result.issues == ()
    assert [doc.content for doc in result.documents] == [{"a": 1}, {"b": 2}]
    assert [doc.index for doc in result.documents] == [0, 1]
    assert yaml_loader.load_text("# just a comment\n", "m.yaml").documents == ()
    assert yaml_loader.load_text("", "m.yaml").documents == ()


def test_documents_before_a_syntax_error_are_kept() -> None:
    result = yaml_loader.load_text("a: 1\n---\nb: [\n", "m.yaml")
    assert [doc.content for doc in result.documents] == [{"a": 1}]
    assert len(result.issues) == 1 and "invalid YAML" in result.issues[0].message


def test_lists_and_scalars_are_loaded_for_the_validator_to_refuse() -> None:
    result = yaml_loader.load_text("- a\n---\ntext\n", "m.yaml")
    assert [doc.content for doc in result.documents] == [["a"], "text"]


def test_locator_points_at_keys_values_and_items() -> None:
    text = "---\nspec:\n  infra:\n    cloudProvider: X\n  list:\n    - a\n    - {k: v}\n"
    document = yaml_loader.load_text(text, "dir/m.yaml").documents[0]
    locate = document.locator.locate
    assert locate(()) == Location("dir/m.yaml", 2, 1)
    assert locate(("spec", "infra", "cloudProvider")) == Location("dir/m.yaml", 4, 20)
    assert locate(("spec", "infra", "cloudProvider"), at_key=True) == Location("dir/m.yaml", 4, 5)
    assert locate(("spec", "list", 1, "k")) == Location("dir/m.yaml", 7, 11)
    # A path that does not exist points at the deepest part that does.
    assert locate(("spec", "infra", "missing")) == Location("dir/m.yaml", 4, 5)
    assert document.base_dir == "dir"


def test_locator_finds_documents_after_empty_ones() -> None:
    text = "---\n---\n# empty\n---\na: 1\n---\nmetadata:\n  name: x\nspec:\n  b: [1, 2]\n"
    documents = yaml_loader.load_text(text, "m.yaml").documents
    assert [doc.content for doc in documents] == [
        {"a": 1},
        {"metadata": {"name": "x"}, "spec": {"b": [1, 2]}},
    ]
    second = documents[1].locator
    assert second.locate(("metadata", "name")) == Location("m.yaml", 8, 9)
    assert second.locate(("spec", "b", 1)) == Location("m.yaml", 10, 10)
    assert documents[0].locator.locate(("a",), at_key=True) == Location("m.yaml", 5, 1)
