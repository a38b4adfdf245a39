"""The attributes line and `-c` settings that point git at the state merge driver."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.adapters import git_merge_driver


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("tensormesh.state.json", "/tensormesh.state.json merge=tensormesh-state"),
        ("deploy/prod.state.json", "/deploy/prod.state.json merge=tensormesh-state"),
        ("odd[1]*.json", "/odd\\[1\\]\\*.json merge=tensormesh-state"),
        ("my state.json", '"/my state.json" merge=tensormesh-state'),
    ],
)
def test_attributes_line_names_exactly_the_state_file(relative: str, expected: str) -> None:
    assert git_merge_driver.attributes_line(relative) == expected


def test_settings_keep_the_users_attributes_and_remove_their_file() -> None:
    with git_merge_driver.git_settings("s.json", user_attributes=["*.png binary"]) as args:
        name = args[1].removeprefix("core.attributesFile=")
        assert Path(name).read_text().splitlines() == [
            "*.png binary",
            "/s.json merge=tensormesh-state",
        ]
        assert args[-1].endswith("-m reconciler state merge-driver %O %A %B")
    assert not Path(name).exists()
