"""JSON Lines: one lesson per line, `text` required, an `id` given is kept as is."""

from __future__ import annotations

import json
import math
import re
from pathlib import PurePath
from typing import Any

from kb.errors import IngestError
from kb.readers.common import ParsedSource, normalise_date, normalise_tags, parse_votes
from kb.records import LessonDraft

# A \uD800-\uDFFF escape: only a line holding one can decode to a lone surrogate.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_KNOWN = {
    "id",
    "text",
    "title",
    "project",
    "tags",
    "date",
    "kind",
    "source",
    "url",
    "section",
    "votes",
}


def _optional_str(record: dict[str, Any], key: str) -> str | None:
    value = record.get(key)
    return str(value).strip() or None if value is not None else None


def _not_a_number(name: str) -> Any:
    # Python reads NaN and Infinity, but they are not JSON: no API client could read them back.
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"the number {text[:40]} is too large")
    return number


def _is_unicode(record: dict[str, Any]) -> bool:
    """Whether every text in the decoded line is real Unicode (no lone surrogate)."""
    try:
        json.dumps(record, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def read_jsonl(source: str, text: str) -> ParsedSource:
    """Lessons of one JSONL file (already decoded)."""
    title = PurePath(source).stem.replace("-", " ").replace("_", " ")
    lessons: list[LessonDraft] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw, parse_constant=_not_a_number, parse_float=_finite)
        except json.JSONDecodeError as error:
            raise IngestError(
                source, f"not valid JSON ({error.msg} at column {error.colno})", line=number
            ) from None
        except ValueError as error:  # NaN, Infinity, 1e999, a 5,000-digit integer
            raise IngestError(source, f"not valid JSON ({error})", line=number) from None
        except RecursionError:  # the decoder recurses per level: ~1,000 levels is its limit
            raise IngestError(
                source, "the JSON nests too deeply; a lesson is a flat object", line=number
            ) from None
        if not isinstance(record, dict):
            raise IngestError(source, "each line must be a JSON object", line=number)
        if _SURROGATE_ESCAPE.search(raw) and not _is_unicode(record):
            # JSON may escape half a UTF-16 pair (\ud800), which no database can store (and
            # which broke the whole ingest run there): the line is refused, as the webhook is.
            raise IngestError(
                source,
                "holds an unpaired UTF-16 surrogate (such as \\ud800), which is not Unicode;"
                " write the character itself or remove the escape",
                line=number,
            )
        body = record.get("text")
        if not isinstance(body, str) or not body.strip():
            raise IngestError(
                source, 'missing "text": each line needs a non-empty "text"', line=number
            )
        tags = record.get("tags")
        if tags is not None and not isinstance(tags, (list, str)):
            raise IngestError(source, '"tags" must be a list of strings', line=number)
        lessons.append(
            LessonDraft(
                text=body.strip(),
                kind=_optional_str(record, "kind") or "lesson",
                title=_optional_str(record, "title") or title,
                section=_optional_str(record, "section") or "",
                project=_optional_str(record, "project"),
                tags=normalise_tags(tags),
                date=normalise_date(record.get("date"), source, line=number),
                votes=parse_votes(record.get("votes"), source, line=number),
                url=_optional_str(record, "url"),
                given_id=_optional_str(record, "id"),
                origin=_optional_str(record, "source"),
                line=number,
                metadata={k: v for k, v in record.items() if k not in _KNOWN},
            )
        )
    if not lessons:
        raise IngestError(source, "no lessons: the file has only blank lines")
    ids = [lesson.given_id for lesson in lessons if lesson.given_id]
    if len(ids) != len(set(ids)):
        duplicate = next(i for i in ids if ids.count(i) > 1)
        line = [lesson.line for lesson in lessons if lesson.given_id == duplicate][1]
        raise IngestError(source, f"id {duplicate!r} appears twice in this file", line=line)
    return ParsedSource(lessons=lessons, title=title)
