"""The reconcile output adapters: JSON/plain logs and the atomic metrics file."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.adapters import logs, metrics_file
from reconciler.core.errors import ReconcilerError


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    yield io.StringIO()
    # Undo the set-up: other tests rely on records reaching the root logger (caplog).
    logger = logging.getLogger(logs.ROOT_LOGGER)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logger.propagate = True
    logger.setLevel(logging.NOTSET)


def _emit(log_format: str, stream: io.StringIO) -> str:
    logs.setup_logging(log_format, stream=stream)
    logging.getLogger("reconciler.reconcile").warning(
        "drift found: %s",
        "llama",
        extra={"fields": {"pass": 3, "name": "llama", "kind": "missing"}},
    )
    return stream.getvalue()


def test_json_logs_are_one_object_per_line(log_stream: io.StringIO) -> None:
    (line,) = _emit("json", log_stream).splitlines()
    record = json.loads(line)
    assert record["msg"] == "drift found: llama"
    assert (record["level"], record["pass"], record["name"], record["kind"]) == (
        "warning",
        3,
        "llama",
        "missing",
    )
    assert record["ts"].endswith("+00:00")


def test_text_logs_carry_fields_as_key_value(log_stream: io.StringIO) -> None:
    text = _emit("text", log_stream)
    assert "WARNING" in text and "drift found: llama pass=3 name=llama kind=missing" in text


def test_setting_up_twice_does_not_duplicate_lines(log_stream: io.StringIO) -> None:
    logs.setup_logging("json", stream=io.StringIO())
    assert len(_emit("json", log_stream).splitlines()) == 1


def test_metrics_file_is_replaced_whole_and_readable_by_others(tmp_path: Path) -> None:
    path = tmp_path / "reconciler.prom"
    metrics_file.write_metrics(path, "a 1\n")
    metrics_file.write_metrics(path, "b 2\n")
    assert metrics_file.read_metrics(path) == "b 2\n"
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    assert [p.name for p in tmp_path.iterdir()] == ["reconciler.prom"]  # no temp file left


def test_metrics_file_in_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ReconcilerError, match=r"cannot write metrics file .*--metrics-file"):
        metrics_file.write_metrics(tmp_path / "nope" / "m.prom", "a 1\n")
    assert metrics_file.read_metrics(tmp_path / "nope" / "m.prom") == ""
