"""Logging set-up: JSON lines for machines (stderr not a terminal), short text for people.

Structured fields travel in `extra={"fields": {...}}`; both formats print them. Nothing here
ever formats settings, so secrets cannot reach the log through it. Logged text often quotes
input (keys, summaries, file names): JSON lines escape it as JSON does and spell out what JSON
leaves raw, and text lines escape control characters, so no input can forge a log line.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any, TextIO

from hindsight.terminal import json_line, printable

_HANDLER_NAME = "hindsight"


class JsonLineFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        line.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json_line(line, default=str)


class TextFormatter(logging.Formatter):
    """`HH:MM:SS level logger: message key=value ...` for a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None) or {}
        extra = " ".join(f"{k}={v}" for k, v in fields.items() if v not in (None, ""))
        text = printable(
            f"{time.strftime('%H:%M:%S', time.localtime(record.created))} "
            f"{record.levelname.lower():7} {record.name}: {record.getMessage()}"
        )
        if extra:
            text += f"  {printable(extra)}"
        if record.exc_info:  # a traceback has lines of its own; what it quotes is escaped
            text += "\n" + printable(self.formatException(record.exc_info), multiline=True)
        return text


def configure_logging(fmt: str = "auto", level: str = "INFO", stream: TextIO | None = None) -> None:
    """Install one handler on the root logger (idempotent: calling again replaces it)."""
    stream = stream or sys.stderr
    use_json = fmt == "json" or (fmt == "auto" and not _is_tty(stream))
    handler = logging.StreamHandler(stream)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonLineFormatter() if use_json else TextFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == _HANDLER_NAME:
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    # huey logs every task at INFO; our one line per delivery says more, so keep it quieter.
    logging.getLogger("huey").setLevel(max(logging.WARNING, root.level))


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
