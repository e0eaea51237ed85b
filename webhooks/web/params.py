"""Query parameters of the pages and the JSON API, parsed in one place.

A malformed value is refused with `BadParameter`, a 400 whose description names the parameter and
what it accepts: the pages render it as an HTML error page (or inline, on the search form), the
API as its JSON error. Nothing a user types in an address bar reaches a handler unparsed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from flask import request
from werkzeug.exceptions import BadRequest

from kb.text import NUL
from plugin.audit import BadAuditQuery, parse_since

SEARCH_MODES = ("hybrid", "keyword", "semantic")
# What a parameter is trimmed of: Python's whitespace (str.strip) and ECMAScript's (\s, which adds
# U+FEFF), so that docs/openapi.yaml's pattern "[^\s\x1c-\x1f\x85\ufeff]" ("not only spaces")
# means the same under either regex flavour as the app's "empty once trimmed".
BLANKS = "".join(chr(c) for c in range(0x110000) if chr(c).isspace()) + "\ufeff"


MAX_PAGE = 400  # a listing's deepest page: OFFSET reads past every skipped row


class BadParameter(BadRequest):
    """400: a query parameter is malformed; the description says which and what is expected."""

    def __init__(self, message: str) -> None:
        super().__init__(description=message)


def refuse_nul() -> None:
    """Before every request: 400 when its address (path or a query parameter) holds a NUL
    character (`%00`). No name or text Hindsight stores has one (PostgreSQL cannot hold it),
    so such an address can only fail; this says why, on either engine, without quoting the
    value (it may be a token)."""
    if NUL in request.path:
        raise BadParameter("the address's path holds a NUL character (%00); remove it")
    for key, value in request.args.items(multi=True):
        if NUL in key or NUL in value:
            name = _shown(key.replace(NUL, ""), 40)
            raise BadParameter(f"the parameter {name} holds a NUL character (%00); remove it")


def text_param(name: str) -> str:
    """The parameter's text, trimmed ('' when absent)."""
    return request.args.get(name, "").strip(BLANKS)


def int_param(name: str, default: int, low: int, high: int) -> int:
    """A whole number in [low, high]; `default` when absent."""
    if name not in request.args:
        return default
    raw = text_param(name)
    if not (raw.isascii() and raw.lstrip("-").isdigit() and len(raw) <= 12):
        raise BadParameter(f"{name} must be a whole number from {low} to {high}, got {_shown(raw)}")
    value = int(raw)
    if not low <= value <= high:
        raise BadParameter(f"{name} must be between {low} and {high}, got {value}")
    return value


def choice_param(name: str, choices: Sequence[str], default: str) -> str:
    """One of `choices`; `default` when absent."""
    raw = text_param(name) if name in request.args else default
    if raw not in choices:
        raise BadParameter(f"{name} must be one of {', '.join(choices)}; got {_shown(raw)}")
    return raw


def date_param(name: str) -> str | None:
    """A calendar date written YYYY-MM-DD, as the lessons' dates are; None when absent or empty
    (a search form sends its unfilled date field empty)."""
    raw = text_param(name)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw).isoformat() if raw.isascii() else _bad_date(name, raw)
    except ValueError:
        return _bad_date(name, raw)


def since_param(name: str) -> str | None:
    """A point in time as the audit log reads it: a date, a date and time, or 30m / 12h / 7d."""
    raw = text_param(name)
    if not raw:
        return None
    try:
        parse_since(raw)
    except BadAuditQuery:
        raise BadParameter(
            f"{name} must be a date (2026-03-01), a time (2026-03-01T12:00) or an age"
            f" (30m, 12h, 7d); got {_shown(raw)}"
        ) from None
    return raw


def _bad_date(name: str, raw: str) -> str:
    raise BadParameter(f"{name} must be a date written YYYY-MM-DD, got {_shown(raw)}")


def _shown(raw: str, width: int = 40) -> str:
    """The value as the message quotes it: short, and never a whole pasted document."""
    return repr(raw if len(raw) <= width else raw[:width] + "...")
