"""The suggestion comment: Jira wiki markup (REST v2), one per issue, found again by its marker.

The marker is kept in the comment's `hindsight` entity property, invisible to people and kept
across their edits, so Hindsight recognises (and edits) its own comment on every later run. The
body also starts with it as an `{anchor}` macro, which Jira renders as nothing: comments written
before the property are still found by it (Data Center keeps it; Cloud's ADF storage drops it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from plugin.jira.port import Comment
from plugin.lessons.signing import FeedbackSigner

MARKER = "{anchor:hindsight-lessons}"
_WIKI_SPECIAL = re.compile(r"([\[\]{}|*_!^~+\\#])")
_WHITESPACE = re.compile(r"\s+")
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s")


@dataclass(frozen=True)
class CommentLesson:
    """One lesson as the comment shows it."""

    lesson_id: str
    title: str
    text: str
    kind: str
    similarity: float


def wiki_escape(text: str) -> str:
    """Text that Jira's wiki renderer shows literally (no links, macros or formatting)."""
    return _WIKI_SPECIAL.sub(r"\\\1", text)


def one_line(text: str, limit: int = 180) -> str:
    """The first sentence of `text` on one line, cut at a word boundary to `limit` characters."""
    flat = _WHITESPACE.sub(" ", text).strip()
    first = _SENTENCE_END.split(flat, maxsplit=1)[0]
    if len(first) <= limit:
        return first
    cut = first[: limit - 1].rsplit(" ", 1)[0]
    return (cut or first[: limit - 1]) + "…"


def lesson_url(base_url: str, lesson_id: str) -> str:
    return f"{base_url.rstrip('/')}/lessons/{quote(lesson_id, safe='')}"


def feedback_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/lessons/feedback?t={quote(token, safe='')}"


def render_suggestions(
    issue_key: str,
    lessons: Sequence[CommentLesson],
    *,
    base_url: str,
    signer: FeedbackSigner,
    issued: datetime,
) -> str:
    """The comment body listing `lessons`; deterministic for the same inputs (so reruns match)."""
    if not lessons:
        return (
            f"{MARKER}*Lessons from past work*: none of the earlier suggestions apply to this "
            "issue's current text any more."
        )
    lines = [
        f"{MARKER}*Lessons from past work that may apply here* "
        "(suggested by Hindsight from the team's retrospectives)"
    ]
    for lesson in lessons:
        title = wiki_escape(one_line(lesson.title or lesson.text, 100))
        summary = wiki_escape(one_line(lesson.text))
        helpful = signer.sign(issue_key, lesson.lesson_id, "helpful", issued=issued)
        dismiss = signer.sign(issue_key, lesson.lesson_id, "not_relevant", issued=issued)
        lines.append(
            f"* *[{title}|{lesson_url(base_url, lesson.lesson_id)}]* "
            f"({lesson.kind.replace('_', ' ')}, {lesson.similarity:.0%} match): {summary}"
        )
        lines.append(
            f"** [Helpful|{feedback_url(base_url, helpful)}] · "
            f"[Not relevant|{feedback_url(base_url, dismiss)}]"
        )
    return "\n".join(lines)


def find_marked(comments: Sequence[Comment], marker: str = MARKER) -> Comment | None:
    """The first of Hindsight's comments carrying `marker`, oldest first (only the service
    account's comments carry markers: `Comment.markers`)."""
    return next((comment for comment in comments if marker in comment.markers), None)
