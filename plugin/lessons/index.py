"""What the lessons features need from the knowledge base, as Protocols over `kb`'s values.

Handlers and commands get a `LessonIndex` passed in; production passes `KbLessonIndex` over the
real store, unit tests a small in-memory one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from kb.records import Lesson, SearchHit
from kb.store import LessonStore


@dataclass(frozen=True)
class Retrospective:
    """A retrospective captured from a Jira issue, as Markdown with its provenance."""

    source: str  # the browse URL: re-capturing the same issue replaces its lessons
    title: str
    markdown: str
    project: str | None
    date: str | None
    tags: tuple[str, ...] = ()


@runtime_checkable
class LessonIndex(Protocol):
    """Search and read lessons; ingest a captured retrospective."""

    def search(self, query: str, *, limit: int) -> Sequence[SearchHit]:
        """Hybrid search; every hit carries its cosine `similarity` to the query."""
        ...

    @property
    def related_similarity(self) -> float:
        """The similarity from which a lesson is related to a text, calibrated for the model."""
        ...

    def get(self, lesson_id: str) -> Lesson:
        """The lesson, or `kb.errors.LessonNotFoundError`."""
        ...

    def replace_retrospective(self, retro: Retrospective) -> int:
        """Ingest `retro` replacing whatever its source held before; the lessons written."""
        ...


class KbLessonIndex:
    """`LessonIndex` over the knowledge base's `LessonStore`."""

    def __init__(self, store: LessonStore) -> None:
        self.store = store

    @property
    def related_similarity(self) -> float:
        # A store without a model yields no similarities: nothing can clear any threshold.
        return self.store.related_similarity or 1.0

    def search(self, query: str, *, limit: int) -> Sequence[SearchHit]:
        if self.store.is_empty():
            return []  # an empty store: do not load the embedding model for nothing
        return self.store.search(query, limit=limit, mode="hybrid")

    def get(self, lesson_id: str) -> Lesson:
        return self.store.get(lesson_id)

    def replace_retrospective(self, retro: Retrospective) -> int:
        outcome = self.store.ingest_source(
            retro.source,
            retro.markdown,
            format="markdown",
            title=retro.title,
            project=retro.project,
            tags=retro.tags,
            date=retro.date,
            url=retro.source,
        )
        return outcome.lessons
