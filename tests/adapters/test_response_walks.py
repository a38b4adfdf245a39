"""The client's walks over a parsed response (nesting depth, returned apiKeys), which visit
containers only so a list of 20,000 models stays cheap: same answers as a full walk."""

from __future__ import annotations

import json
from typing import Any

import pytest

from reconciler.adapters import http_api


def full_depth(value: Any) -> int:
    """The reference: every value, scalars included, one level below its container."""
    if isinstance(value, dict):
        return 1 + max((full_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((full_depth(v) for v in value), default=0)
    return 1


@pytest.mark.parametrize(
    "value",
    [1, "x", [], {}, [1], [[]], {"a": [{"b": 1}]}, [[[[[]]]]], {"a": {}}, [{}, [1, [2]]]],
)
def test_depth_counts_as_a_full_walk(value: Any) -> None:
    assert http_api._depth(value) == full_depth(value)


def test_nesting_past_the_limit_is_refused_and_at_it_accepted() -> None:
    at_limit = "[" * 63 + "1" + "]" * 63  # 63 lists and the scalar inside: 64 levels
    assert http_api.parse_json(at_limit.encode())[0] == ""
    why, _ = http_api.parse_json(("[" * 64 + "1" + "]" * 64).encode())
    assert "nested deeper than 64 levels" in why


def test_every_returned_api_key_is_found() -> None:
    body = json.loads(
        '{"models": [{"apiKey": "key-one", "x": [{"apiKey": "key-two"}]}, {"apiKey": "ab"},'
        ' {"model": {"apiKey": "key-three"}}], "apiKey": 5}'
    )
    assert http_api._returned_api_keys(body) == {"key-one", "key-two", "key-three"}


def full_keys(value: Any) -> set[str]:
    """The reference: every `apiKey` string of 4+ characters, wherever it sits."""
    found: set[str] = set()
    if isinstance(value, dict):
        key = value.get("apiKey")
        if isinstance(key, str) and len(key) >= 4:
            found.add(key)
        for child in value.values():
            found |= full_keys(child)
    elif isinstance(value, list):
        for child in value:
            found |= full_keys(child)
    return found


@pytest.mark.parametrize(
    "text",
    [
        '{"models": [{"apiKey": "key-one"}, {"e": [{"apiKey": "deep-key", "x": []}]}]}',
        '{"model": {"apiKey": "key-two", "infra": {}}, "apiKey": ["not-a-key"]}',
        '[[], {}, [{"apiKey": "in-a-list"}], "apiKey"]',
        '{"a": {"b": {"c": {"d": {"apiKey": "five-levels"}}}}, "e": 1}',
    ],
)
def test_one_parse_gives_the_depth_and_every_key_of_the_full_walks(text: str) -> None:
    why, body, keys = http_api._parse_json(text.encode())
    assert why == ""
    assert body == json.loads(text)
    assert keys == full_keys(body)
    assert http_api._depth(body) == full_depth(body)


def test_a_refused_document_gives_no_keys() -> None:
    text = '{"apiKey": "key-one", "x": ' + "[" * 64 + "1" + "]" * 64 + "}"
    why, body, keys = http_api._parse_json(text.encode())
    assert "nested deeper than 64 levels" in why
    assert body is None and keys == set()
