"""The knowledge base's data: parsed lesson drafts, stored lessons, search hits and reports."""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import asdict, dataclass, field
from typing import Any

# Lesson kinds recognised from section headings (and Parabol prompts); anything else is kept as
# written, so a team's own prompt ("Puzzles", "Kudos") still works as a --kind filter.
KINDS = (
    "went_well",
    "went_wrong",
    "lesson",
    "action",
    "root_cause",
    "risk",
    "summary",
    "narrative",
)


@dataclass(frozen=True)
class LessonDraft:
    """One lesson as a reader found it, before the store gives it an id and vectors."""

    text: str
    kind: str = "lesson"
    title: str = ""
    section: str = ""
    project: str | None = None
    tags: tuple[str, ...] = ()
    date: str | None = None
    votes: int = 0
    url: str | None = None
    given_id: str | None = None
    origin: str | None = None  # a JSONL line's own `source`, shown instead of the file path
    line: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Lesson:
    """A stored lesson."""

    id: str
    title: str
    text: str
    kind: str
    project: str | None
    tags: tuple[str, ...]
    date: str | None
    source: str
    section: str
    votes: int
    url: str | None
    ingested_at: str
    metadata: dict[str, Any]
    retrospective_id: str = ""  # see `retrospective_id`; '' for lessons built outside a store

    @property
    def headline(self) -> str:
        return headline_of(self.text)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["tags"] = list(self.tags)
        data["headline"] = self.headline
        return data


HEADLINE_CHARS = 160


def headline_of(text: str, width: int = HEADLINE_CHARS) -> str:
    """A lesson's own words as a one-line heading: its first sentence (or line), shortened.

    Many lessons of one retrospective share its title; their text is what tells them apart.
    """
    head = text[: width * 12]  # the first sentence is near the start; bounds the work
    plain = re.sub(r"<(script|style)\b.*?</\1\s*>", "", head, flags=re.I | re.S)
    plain = re.sub(r"<[^>]*>", "", plain)  # HTML is not words (the page escapes it anyway)
    plain = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", plain)  # a Markdown link: its words
    plain = re.sub(r"[*`]|^[#>\s]+", "", plain).strip()
    first = re.split(r"(?<=[.!?。！？])\s|\n", plain, maxsplit=1)[0].strip()
    if len(first) <= width:
        return first
    cut = first[: width - 1]
    return (cut.rsplit(" ", 1)[0] if " " in cut[width // 2 :] else cut) + "…"


def retrospective_id(source_uri: str) -> str:
    """The stable public id of a retrospective (an ingested source), from its internal uri.

    The uri may be a local file path, which pages and exports never show; re-ingesting the same
    source keeps the id, so links to it last.
    """
    return "R" + hashlib.sha256(source_uri.encode("utf-8", "surrogatepass")).hexdigest()[:15]


@dataclass(frozen=True)
class Snippet:
    """An excerpt of a lesson with the spans that matched the query.

    `highlights` are (start, end) character offsets into `text`, sorted and non-overlapping, so
    a web page can escape the text and then wrap each span, and a terminal can mark them.
    """

    text: str
    highlights: tuple[tuple[int, int], ...] = ()

    def marked(self, before: str = "«", after: str = "»") -> str:
        """The excerpt with every matched span wrapped in `before`/`after` (no escaping)."""
        return self._wrap(self.text, before, after, escape=False)

    def html(self) -> str:
        """The excerpt HTML-escaped, matched spans wrapped in <mark>; safe to insert as HTML."""
        return self._wrap(self.text, "<mark>", "</mark>", escape=True)

    def _wrap(self, text: str, before: str, after: str, *, escape: bool) -> str:
        out: list[str] = []
        cursor = 0
        quote = html.escape if escape else (lambda s: s)
        for start, end in self.highlights:
            out.append(quote(text[cursor:start]))
            out.append(before + quote(text[start:end]) + after)
            cursor = end
        out.append(quote(text[cursor:]))
        return "".join(out)


@dataclass(frozen=True)
class SearchHit:
    """One search result: the stored `lesson`, with how the search found it.

    `score` is the fused rank score (only comparable within one result list); `found_by` maps
    each ranking that found the lesson ("keyword", "semantic") to its 1-based rank there;
    `similarity` is the cosine similarity between query and lesson (best chunk) whenever the
    semantic ranking ran, an absolute relevance usable as a threshold; otherwise None. The
    lesson's own fields read through (`hit.id`, `hit.title`, ...).
    """

    lesson: Lesson
    snippet: Snippet
    score: float
    found_by: dict[str, int]
    similarity: float | None

    # The lesson's fields, read through: callers treat a hit as the lesson it found.
    @property
    def id(self) -> str:
        return self.lesson.id

    @property
    def title(self) -> str:
        return self.lesson.title

    @property
    def text(self) -> str:
        return self.lesson.text

    @property
    def kind(self) -> str:
        return self.lesson.kind

    @property
    def project(self) -> str | None:
        return self.lesson.project

    @property
    def tags(self) -> tuple[str, ...]:
        return self.lesson.tags

    @property
    def date(self) -> str | None:
        return self.lesson.date

    @property
    def source(self) -> str:
        return self.lesson.source

    @property
    def section(self) -> str:
        return self.lesson.section

    @property
    def votes(self) -> int:
        return self.lesson.votes

    @property
    def url(self) -> str | None:
        return self.lesson.url

    @property
    def retrospective_id(self) -> str:
        return self.lesson.retrospective_id

    @property
    def headline(self) -> str:
        return self.lesson.headline

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: the lesson's fields (not its ingest metadata), the scores, and the
        snippet as text, highlight spans and marked text."""
        data = self.lesson.to_dict()
        for private in ("ingested_at", "metadata"):
            del data[private]
        data.update(
            score=self.score,
            found_by=dict(self.found_by),
            similarity=self.similarity,
            snippet=self.snippet.text,
            highlights=[list(span) for span in self.snippet.highlights],
            snippet_marked=self.snippet.marked(),
        )
        return data


@dataclass(frozen=True)
class SourceOutcome:
    """What ingesting one source did."""

    source: str
    status: str  # "added", "updated", "unchanged" or "failed"
    lessons: int = 0
    error: str | None = None


@dataclass
class IngestReport:
    """What an ingest run did, source by source; `errors` lists the sources that failed."""

    outcomes: list[SourceOutcome] = field(default_factory=list)
    pruned_sources: int = 0
    pruned_lessons: int = 0

    def count(self, status: str) -> int:
        return sum(1 for outcome in self.outcomes if outcome.status == status)

    @property
    def errors(self) -> list[SourceOutcome]:
        return [outcome for outcome in self.outcomes if outcome.status == "failed"]

    @property
    def lessons_written(self) -> int:
        return sum(o.lessons for o in self.outcomes if o.status in {"added", "updated"})

    @property
    def lessons_seen(self) -> int:
        return sum(o.lessons for o in self.outcomes if o.status != "failed")

    def summary(self) -> str:
        parts = [
            f"{self.count('added')} added",
            f"{self.count('updated')} updated",
            f"{self.count('unchanged')} unchanged",
            f"{len(self.errors)} failed",
        ]
        text = f"{len(self.outcomes)} sources: " + ", ".join(parts)
        text += f"; {self.lessons_written} lessons written"
        if self.pruned_sources:
            text += f"; pruned {self.pruned_lessons} lessons of {self.pruned_sources} gone sources"
        return text


@dataclass(frozen=True)
class StoreStats:
    """Counts that describe a store."""

    lessons: int
    sources: int
    vectors: int
    lessons_without_vectors: int
    model: str | None
    by_kind: dict[str, int]
    by_project: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


SORTS = ("relevance", "date", "votes")  # how a result list may be ordered


@dataclass(frozen=True)
class SearchPage:
    """One page of a result list and the truth about the whole list.

    `total` is how many results there are (after every filter and threshold), unless `capped`:
    then there are more than `total`, the deepest a list goes (`SearchSettings.max_results`).
    `hits` are results `offset + 1` to `offset + len(hits)` in `sort` order.
    """

    hits: list[SearchHit]
    total: int
    capped: bool
    offset: int
    limit: int
    sort: str = "relevance"


@dataclass(frozen=True)
class LessonPage:
    """One page of lessons chosen by filters alone (no query), and how many match in all."""

    lessons: list[Lesson]
    total: int
    offset: int
    limit: int


@dataclass(frozen=True)
class RetrospectiveSummary:
    """An ingested retrospective (one source) as a project manager sees it, never its path.

    `url` is the retrospective's own address (front matter `url:`, or the Jira issue it was
    captured from); `participants` come from front matter (`participants:`, `attendees:`) or,
    for a Parabol export, the reflections' authors. `kinds` counts its lessons per kind.
    """

    id: str
    title: str
    url: str | None
    date: str | None
    projects: tuple[str, ...]
    team: str | None
    facilitator: str | None
    author: str | None
    participants: tuple[str, ...]
    lessons: int
    kinds: dict[str, int]
    format: str
    ingested_at: str
    action_items: int = 0  # action item records (kb.actions) from this retrospective
    open_action_items: int = 0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["projects"] = list(self.projects)
        data["participants"] = list(self.participants)
        return data
