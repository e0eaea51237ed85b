"""Parabol retrospective CSV exports: one lesson per reflection, its prompt as the kind."""

from __future__ import annotations

import csv
import io
from pathlib import PurePath

from kb.errors import IngestError
from kb.readers.common import ParsedSource, normalise_date, parse_votes
from kb.readers.sections import section_kind
from kb.records import LessonDraft

PARABOL_COLUMNS = (
    "reflectionGroup",
    "author",
    "votes",
    "prompt",
    "type",
    "createdAt",
    "discussionThread",
    "content",
)


def prompt_kind(prompt: str) -> str:
    """A known kind for prompts like "What went well?"; other prompts are kept as written."""
    return section_kind(prompt) or prompt.strip().rstrip("?？").strip().lower() or "reflection"


def read_parabol(source: str, text: str) -> ParsedSource:
    """Lessons of one Parabol CSV export (already decoded)."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [name.strip() for name in (reader.fieldnames or [])]
    missing = [column for column in PARABOL_COLUMNS if column not in header]
    if missing:
        raise IngestError(
            source,
            f"not a Parabol export: missing column(s) {', '.join(missing)} "
            f"(expected {', '.join(PARABOL_COLUMNS)})",
            line=1,
        )
    reader.fieldnames = header
    title = PurePath(source).stem.replace("-", " ").replace("_", " ")
    lessons: list[LessonDraft] = []
    try:
        for row in reader:
            line = reader.line_num
            content = (row.get("content") or "").strip()
            if not content:
                continue
            prompt = (row.get("prompt") or "").strip()
            group = (row.get("reflectionGroup") or "").strip()
            metadata = {
                key: (row.get(key) or "").strip()
                for key in ("author", "type", "discussionThread")
                if (row.get(key) or "").strip()
            }
            if group:
                metadata["reflectionGroup"] = group
            lessons.append(
                LessonDraft(
                    text=content,
                    kind=prompt_kind(prompt),
                    title=group or title,
                    section=prompt,
                    date=normalise_date(row.get("createdAt"), source, line=line),
                    votes=parse_votes(row.get("votes"), source, line=line),
                    line=line,
                    metadata=metadata,
                )
            )
    except csv.Error as error:
        raise IngestError(source, f"broken CSV ({error})", line=reader.line_num) from None
    if not lessons:
        raise IngestError(source, "the export has no reflections with content")
    return ParsedSource(lessons=lessons, title=title)
