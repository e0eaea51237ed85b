"""Helpers every reader shares: decoding, dates, tags and the parsed-source record."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from kb.errors import IngestError
from kb.records import LessonDraft


@dataclass
class ParsedSource:
    """Everything one source yielded: its lessons and its own metadata."""

    lessons: list[LessonDraft]
    title: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


def decode(source: str, data: bytes) -> str:
    """UTF-8 text of a file (a BOM is fine); anything else is an error naming the byte offset."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise IngestError(
            source,
            f"not valid UTF-8 (byte {error.start}); save the file as UTF-8 and ingest it again",
            line=line,
        ) from None
    if not text.strip():
        raise IngestError(source, "the file is empty; add content or remove the file")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def normalise_date(value: Any, source: str, line: int | None = None) -> str | None:
    """An ISO date (YYYY-MM-DD) from a YAML date, a datetime or an ISO-like string."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value).strip()
    candidate = text.replace("Z", "+00:00")
    for parse in (dt.datetime.fromisoformat, dt.date.fromisoformat):
        try:
            parsed = parse(candidate)
        except ValueError:
            continue
        return (parsed.date() if isinstance(parsed, dt.datetime) else parsed).isoformat()
    raise IngestError(
        source, f"date {text!r} is not an ISO date; write it as YYYY-MM-DD", line=line
    )


def normalise_tags(value: Any) -> tuple[str, ...]:
    """Tags from a YAML list, or from a comma-separated string; blanks dropped, order kept."""
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    tags = (str(item).strip() for item in items if item is not None)
    return tuple(dict.fromkeys(tag for tag in tags if tag))


# Votes are stored as a 32-bit integer (PostgreSQL's INTEGER; SQLite takes 64 bits and fails past
# them): a count outside this range is refused here, the same on both engines.
MAX_VOTES = 2**31 - 1


def parse_votes(value: Any, source: str, line: int | None = None) -> int:
    if value is None or str(value).strip() == "":
        return 0
    try:
        votes = int(float(str(value).strip()))
    except (ValueError, OverflowError):  # "abc", NaN, Infinity
        raise IngestError(source, f"votes {value!r} is not a number", line=line) from None
    if not -MAX_VOTES <= votes <= MAX_VOTES:
        raise IngestError(
            source, f"votes {value!r} is out of range (at most {MAX_VOTES:,})", line=line
        )
    return votes
