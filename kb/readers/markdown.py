"""Markdown retrospectives and post-mortems, with optional YAML front matter.

Bullets under a recognised section (went well, went wrong, lessons learned, action items, root
cause, risks, in English or Chinese) are one lesson each, of that kind. Everything else is kept
as narrative: each paragraph (or list) under another heading, or in a document without
headings, is one lesson, so a free-form post-mortem is searchable paragraph by paragraph.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from kb.bounded_yaml import YamlError, YamlLimits, load_yaml
from kb.errors import IngestError
from kb.readers.common import ParsedSource, normalise_date, normalise_tags
from kb.readers.sections import section_kind
from kb.records import LessonDraft

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^(\s*)(?:[-*+]|\d{1,3}[.)])\s+(?:\[([ xX])\]\s+)?(.*)$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_RULE = re.compile(r"^\s*([-*_])(\s*\1){2,}\s*$")
_FRONT_MATTER_KEYS = {"title", "project", "date", "tags", "categories", "url", "summary"}
# Real front matter is a few lines; the limits keep a hostile file's (alias bomb, deep
# nesting) cost and metadata row small. Other keys are stored as the source's metadata.
FRONT_MATTER_LIMITS = YamlLimits(
    what="the YAML",
    max_bytes=64 * 1024,
    max_depth=16,
    max_values=2_000,
    max_chars=256 * 1024,
    max_aliases=100,
)


@dataclass
class _Block:
    line: int
    lines: list[str] = field(default_factory=list)
    is_list: bool = False
    checkbox: str | None = None  # "open" or "done" for a task list item


def _split_front_matter(source: str, text: str) -> tuple[dict[str, Any], str, int]:
    """(front matter mapping, body, line number where the body starts)."""
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        return {}, text, 1
    for index in range(1, len(lines)):
        if lines[index].strip() in {"---", "..."}:
            raw = "\n".join(lines[1:index])
            try:
                data = load_yaml(raw, source, FRONT_MATTER_LIMITS)
            except YamlError as error:
                # The YAML starts on the file's second line.
                line = error.line + 1 if error.line is not None else 2
                raise IngestError(source, f"front matter: {error.reason}", line=line) from None
            if data is None:
                data = {}
            if not isinstance(data, dict):
                raise IngestError(
                    source, "front matter must be a YAML mapping of key: value lines", line=2
                )
            return data, "\n".join(lines[index + 1 :]), index + 2
    raise IngestError(
        source, "front matter opened with --- is never closed; add a closing --- line", line=1
    )


def _json_ready(value: Any) -> Any:
    """Front matter as data JSON can hold: string keys (YAML allows `1:` or `2024-01-01:`),
    lists for sets, and no NaN or infinity; dates stay (stored as text). Depth is bounded by
    FRONT_MATTER_LIMITS."""
    if isinstance(value, dict):
        return {str(key): _json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_json_ready(item) for item in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _clean(lines: list[str]) -> str:
    text = "\n".join(line.rstrip() for line in lines).strip()
    return re.sub(r"^>\s?", "", text, flags=re.MULTILINE) if text.startswith(">") else text


def _fallback_title(source: str, summary: str) -> str:
    """Without a title: the summary's first sentence (shortened), else the file name."""
    first = re.split(r"(?<=[.!?。！？])\s", summary.strip(), maxsplit=1)[0].strip()
    if first:
        return first if len(first) <= 90 else first[:89].rsplit(" ", 1)[0] + "…"
    return PurePath(source).stem.replace("-", " ").replace("_", " ").strip() or source


def read_markdown(source: str, text: str) -> ParsedSource:
    """Lessons of one Markdown document (already decoded)."""
    front, body, first_line = _split_front_matter(source, text)
    title = str(front.get("title") or "").strip()
    project = front.get("project")
    project = str(project).strip() if project not in (None, "") else None
    date = normalise_date(front.get("date"), source, line=2 if "date" in front else None)
    tags = normalise_tags(front.get("tags")) + normalise_tags(front.get("categories"))
    tags = tuple(dict.fromkeys(tags))
    url = str(front["url"]).strip() if front.get("url") else None
    metadata = _json_ready({k: v for k, v in front.items() if k not in _FRONT_MATTER_KEYS})

    blocks: list[tuple[str, str | None, _Block]] = []  # (section heading, kind, block)
    heading, kind = "", None
    block: _Block | None = None
    in_fence = False
    after_blank = False

    def flush() -> None:
        nonlocal block
        if block is not None and any(line.strip() for line in block.lines):
            blocks.append((heading, kind, block))
        block = None

    for offset, line in enumerate(body.split("\n")):
        number = first_line + offset
        if _FENCE.match(line):
            in_fence = not in_fence
            block = block or _Block(number)
            block.lines.append(line)
            continue
        if in_fence:
            assert block is not None
            block.lines.append(line)
            continue
        if match := _HEADING.match(line):
            flush()
            level, heading_text = len(match.group(1)), match.group(2).strip()
            if level == 1 and not title and section_kind(heading_text) is None:
                title = heading_text
                continue
            heading, kind = heading_text, section_kind(heading_text)
            continue
        if not line.strip() or _RULE.match(line):
            # A blank line ends a paragraph; a list under a narrative heading keeps going.
            if block is not None and not (block.is_list and kind is None and not _RULE.match(line)):
                flush()
            after_blank = True
            continue
        if match := _BULLET.match(line):
            indent, item = len(match.group(1).expandtabs(4)), match.group(3)
            nested = block is not None and block.is_list and indent >= 2
            if kind is not None and not nested:
                flush()  # one lesson per top-level bullet of a recognised section
            elif block is not None and not block.is_list:
                flush()
            if block is None:
                block = _Block(number, is_list=True)
            if kind is not None and not nested:
                block.lines.append(item)
                if match.group(2) is not None:  # a task list item: "- [ ]" or "- [x]"
                    block.checkbox = "open" if match.group(2) == " " else "done"
            else:  # keep list structure inside one narrative block or a nested bullet
                block.lines.append("  " * (indent // 2) + "- " + item)
            after_blank = False
            continue
        if block is not None and block.is_list and after_blank and not line[:1].isspace():
            flush()  # a paragraph after a list is its own block
        after_blank = False
        if block is None:
            block = _Block(number)
        block.lines.append(line.strip() if block.is_list else line)
    flush()

    if not title:
        title = _fallback_title(source, str(front.get("summary") or ""))

    lessons: list[LessonDraft] = []
    common = {"title": title, "project": project, "tags": tags, "date": date, "url": url}
    summary = front.get("summary")
    if summary and str(summary).strip():
        lessons.append(
            LessonDraft(
                text=str(summary).strip(), kind="summary", section="summary", line=2, **common
            )
        )
    for section, section_kind_, found in blocks:
        text = _clean(found.lines)
        if not text:
            continue
        lessons.append(
            LessonDraft(
                text=text,
                kind=section_kind_ or "narrative",
                section=section,
                line=found.line,
                metadata={"checkbox": found.checkbox} if found.checkbox else {},
                **common,
            )
        )
    if not lessons:
        raise IngestError(
            source,
            "no lessons found: add bullets under headings such as '## What went well' or "
            "'## Lessons learned', or narrative paragraphs",
        )
    return ParsedSource(lessons=lessons, title=title, metadata=metadata)
