"""What curation reads and checks: its records (revisions, state, retrospectives), its errors,
and the validation of an editor's fields, apart from `kb.curation`'s writes for size."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kb.errors import KnowledgeBaseError

EDITABLE = ("title", "text", "kind", "project", "tags")
STATUSES = ("active", "archived", "merged")
MAX_TEXT_CHARS = 20_000
MAX_TITLE_CHARS = 300
MAX_TAGS = 20
MAX_TAG_CHARS = 50
MAX_NOTE_CHARS = 1_000
_KIND = re.compile(r"[a-z][a-z0-9_]{0,39}")
_PROJECT = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,19}")
WEB_SOURCE_PREFIX = "web:"


class CurationError(KnowledgeBaseError):
    """An editor's change cannot be made as given; the message says what to change."""


class StaleEditError(CurationError):
    """The lesson changed since the editor opened it; they should reload and redo the change."""


@dataclass(frozen=True)
class Revision:
    """One recorded change to a lesson."""

    seq: int
    lesson_id: str
    at: str
    actor: str
    action: str  # add | edit | archive | restore | merge | absorb
    before: dict[str, Any]
    after: dict[str, Any]
    note: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "lesson_id": self.lesson_id,
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "before": self.before,
            "after": self.after,
            "note": self.note,
        }


@dataclass(frozen=True)
class CurationState:
    """Where a lesson stands: active, archived or merged (and into which lesson)."""

    lesson_id: str
    status: str
    merged_into: str | None
    added_by: str | None
    revision: int  # the latest revision's number, 0 before any; guards against stale edits


@dataclass(frozen=True)
class Retrospective:
    """A retrospective (a source of lessons) an editor can add a lesson to."""

    uri: str
    title: str
    lessons: int


def clean_fields(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Editable fields checked and normalised; CurationError names the field and the limit."""
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise CurationError(f"cannot edit {', '.join(unknown)}; editable: {', '.join(EDITABLE)}")
    out: dict[str, Any] = {}
    if "text" in changes:
        text = str(changes["text"] or "").strip()
        if not text:
            raise CurationError("text: a lesson needs its text; write what was learned")
        if len(text) > MAX_TEXT_CHARS:
            raise CurationError(f"text: at most {MAX_TEXT_CHARS:,} characters, not {len(text):,}")
        out["text"] = text
    if "title" in changes:
        title = " ".join(str(changes["title"] or "").split())
        if len(title) > MAX_TITLE_CHARS:
            raise CurationError(f"title: at most {MAX_TITLE_CHARS} characters")
        out["title"] = title
    if "kind" in changes:
        kind = str(changes["kind"] or "").strip().lower() or "lesson"
        if not _KIND.fullmatch(kind):
            raise CurationError(
                f"kind: {kind[:40]!r} is not a kind; use lower-case letters, digits and _ "
                "(e.g. lesson, went_wrong, action)"
            )
        out["kind"] = kind
    if "project" in changes:
        project = str(changes["project"] or "").strip() or None
        if project is not None and not _PROJECT.fullmatch(project):
            raise CurationError(
                f"project: {project[:40]!r} is not a Jira project key (e.g. OPS, PAY_2)"
            )
        out["project"] = project.upper() if project else None
    if "tags" in changes:
        raw = changes["tags"]
        items = raw.split(",") if isinstance(raw, str) else list(raw or ())
        tags = list(dict.fromkeys(t for t in (str(i).strip() for i in items) if t))
        if len(tags) > MAX_TAGS:
            raise CurationError(f"tags: at most {MAX_TAGS}, not {len(tags)}")
        long = [t for t in tags if len(t) > MAX_TAG_CHARS]
        if long:
            raise CurationError(f"tags: each at most {MAX_TAG_CHARS} characters ({long[0][:20]}…)")
        out["tags"] = tags
    return out


def clean_actor(actor: str) -> str:
    """The editor's name as recorded: one line, at most 200 characters, never empty."""
    actor = " ".join(str(actor).split())[:200]
    if not actor:
        raise CurationError("every change needs the editor's name")
    return actor


def clean_note(note: str) -> str:
    """An editor's note as recorded: one line, at most MAX_NOTE_CHARS characters."""
    note = " ".join(str(note or "").split())
    if len(note) > MAX_NOTE_CHARS:
        raise CurationError(f"note: at most {MAX_NOTE_CHARS} characters")
    return note
