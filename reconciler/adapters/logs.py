"""Log setup for long-running commands: plain text or one JSON object per line, on stderr.

Only formats what the workflow logs; fields arrive as `extra={"fields": {...}}`.
Callers never log secret values, and nothing here adds any.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

ROOT_LOGGER = "reconciler"
_HANDLER_NAME = "reconciler-cli"


class JsonFormatter(logging.Formatter):
    """{"ts", "level", "msg", "logger", ...fields} per line, keys sorted."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            document.update({k: v for k, v in fields.items() if k not in document})
        return json.dumps(document, sort_keys=True, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`<ts> <LEVEL> <msg> key=value ...`: readable in a terminal and in journald."""

    def format(self, record: logging.LogRecord) -> str:
        text = f"{_timestamp(record)} {record.levelname:<7} {record.getMessage()}"
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            text += "".join(f" {key}={_plain(value)}" for key, value in fields.items())
        return text


def setup_logging(log_format: str, *, stream: TextIO | None = None, verbose: bool = False) -> None:
    """Route the `reconciler` loggers to `stream` (stderr); calling again replaces the handler."""
    logger = logging.getLogger(ROOT_LOGGER)
    for handler in list(logger.handlers):
        if handler.get_name() == _HANDLER_NAME:
            logger.removeHandler(handler)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    # stdout carries the reports; logs must not reach the root logger's handlers too.
    logger.propagate = False


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


def _plain(value: Any) -> str:
    text = str(value)
    return json.dumps(text) if (" " in text or not text) else text
