"""Logging set-up: JSON lines for machines (stderr not a terminal), short text for people.

Structured fields travel in `extra={"fields": {...}}`; both formats print them. Logged text often
quotes input (keys, summaries, file names): JSON lines escape it as JSON does and spell out what
JSON leaves raw, and text lines escape control characters, so no input can forge a log line.

No secret reaches a log line: every line, whoever logged it (our code, werkzeug's access log,
gunicorn's through `hindsight.gunicorn_logger`), passes `redact`, which blanks the values of the
query parameters that carry credentials (`token`: the web token and Data Center's webhook URL
token; `t`: a feedback link's signed token) and every configured secret wherever it appears.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import sys
import time
from collections.abc import Iterable
from typing import Any, TextIO
from urllib.parse import quote, quote_plus

from hindsight.terminal import json_line, printable

_HANDLER_NAME = "hindsight"
REDACTED = "[redacted]"
# A credential-carrying query parameter and its value, up to the next separator. The value stops
# before a backslash too, so a redacted JSON line stays valid JSON.
_SECRET_PARAMETER = re.compile(r"(?i)(?<![\w.-])(token|t|access_token)=[^&;#\s\"'\\<>]*")
# werkzeug colours its access lines for a terminal; the text format would show the escapes.
_COLOUR = re.compile(r"\x1b\[[0-9;]*m")


class SecretRedactor:
    """Blanks credential query parameters and the given secrets (and their URL, JSON and
    base64 spellings) in a line of log text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        spellings: set[str] = set()
        for secret in secrets:
            if secret:
                spellings |= {
                    secret,
                    quote(secret, safe=""),
                    quote_plus(secret),
                    json.dumps(secret)[1:-1],
                    json.dumps(secret, ensure_ascii=False)[1:-1],
                    base64.b64encode(secret.encode()).decode(),
                }
        ordered = sorted(spellings, key=len, reverse=True)  # the longest spelling wins
        self._secrets = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def __call__(self, text: str) -> str:
        text = _SECRET_PARAMETER.sub(rf"\1={REDACTED}", text)
        return self._secrets.sub(REDACTED, text) if self._secrets else text


_redactor = SecretRedactor()


def redact(text: str) -> str:
    """`text` without credential parameters' values or any secret `configure_logging` was given."""
    return _redactor(text)


class RedactingFilter(logging.Filter):
    """Redacts a record's message and traceback in place, for handlers whose format is not ours
    (gunicorn's error and access logs)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def _message(record: logging.LogRecord) -> str:
    return _COLOUR.sub("", record.getMessage()).rstrip("\n")


class JsonLineFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": _message(record),
        }
        line.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        # Redacted value by value, before JSON escaping changes how a secret is spelled.
        return json_line(_redacted(line), default=lambda value: redact(str(value)))


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _redacted(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redacted(item) for item in value]
    return value


class TextFormatter(logging.Formatter):
    """`HH:MM:SS level logger: message key=value ...` for a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None) or {}
        extra = " ".join(f"{k}={v}" for k, v in fields.items() if v not in (None, ""))
        text = printable(
            f"{time.strftime('%H:%M:%S', time.localtime(record.created))} "
            f"{record.levelname.lower():7} {record.name}: {_message(record)}"
        )
        if extra:
            text += f"  {printable(extra)}"
        if record.exc_info:  # a traceback has lines of its own; what it quotes is escaped
            text += "\n" + printable(self.formatException(record.exc_info), multiline=True)
        return redact(text)


def configure_logging(
    fmt: str = "auto",
    level: str = "INFO",
    stream: TextIO | None = None,
    *,
    secrets: Iterable[str] = (),
) -> None:
    """Install one handler on the root logger (idempotent: calling again replaces it).

    `secrets` (`Settings.secret_values()`) are redacted from every line logged in this process
    from now on, besides the credential query parameters that are always redacted.
    """
    global _redactor
    _redactor = SecretRedactor(secrets)
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
