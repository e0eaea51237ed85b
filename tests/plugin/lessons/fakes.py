"""Small in-memory stand-ins for the knowledge base, the clock and the audit log, for the lessons
tests (Jira's is `tests.memory_jira.MemoryJira`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from kb.errors import LessonNotFoundError
from kb.readers import read_text
from kb.records import Lesson, SearchHit, Snippet
from kb.text import significant_terms
from plugin.lessons.index import Retrospective


def bag(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for word in significant_terms(text):
        counts[word] = counts.get(word, 0) + 1
    return counts


def cosine(a: str, b: str) -> float:
    x, y = bag(a), bag(b)
    dot = sum(v * y.get(k, 0) for k, v in x.items())
    norm = math.sqrt(sum(v * v for v in x.values())) * math.sqrt(sum(v * v for v in y.values()))
    return dot / norm if norm else 0.0


@dataclass
class FakeIndex:
    """Lessons in a list; similarity is the cosine of word counts (deterministic, no model)."""

    lessons: list[Lesson] = field(default_factory=list)
    searches: list[str] = field(default_factory=list)

    def add(self, lesson_id: str, title: str, text: str, **extra: Any) -> Lesson:
        lesson = Lesson(
            id=lesson_id,
            title=title,
            text=text,
            kind=extra.get("kind", "lesson"),
            project=extra.get("project"),
            tags=tuple(extra.get("tags", ())),
            date=extra.get("date"),
            source=extra.get("source", f"retros/{lesson_id}.md"),
            section="",
            votes=0,
            url=None,
            ingested_at="2026-01-01T00:00:00+00:00",
            metadata={},
        )
        self.lessons.append(lesson)
        return lesson

    def search(self, query: str, *, limit: int) -> Sequence[SearchHit]:
        self.searches.append(query)
        scored = [
            (cosine(query, f"{lesson.title} {lesson.text}"), lesson) for lesson in self.lessons
        ]
        scored.sort(key=lambda pair: (-pair[0], pair[1].id))
        return [
            SearchHit(
                id=lesson.id,
                title=lesson.title,
                text=lesson.text,
                snippet=Snippet(lesson.text),
                kind=lesson.kind,
                project=lesson.project,
                tags=lesson.tags,
                date=lesson.date,
                source=lesson.source,
                section=lesson.section,
                votes=0,
                url=None,
                score=similarity,
                found_by={"semantic": rank},
                similarity=similarity,
            )
            for rank, (similarity, lesson) in enumerate(scored[:limit], start=1)
        ]

    def get(self, lesson_id: str) -> Lesson:
        for lesson in self.lessons:
            if lesson.id == lesson_id:
                return lesson
        raise LessonNotFoundError(lesson_id)

    def replace_retrospective(self, retro: Retrospective) -> int:
        """Read the Markdown with the knowledge base's real reader; replace the source's lessons."""
        self.lessons = [lesson for lesson in self.lessons if lesson.source != retro.source]
        parsed = read_text(retro.source, retro.markdown, "markdown")
        for number, draft in enumerate(parsed.lessons):
            self.add(
                f"{retro.source}#{number}",
                retro.title,
                draft.text,
                kind=draft.kind,
                project=retro.project,
                source=retro.source,
            )
        return len(parsed.lessons)


class StepClock:
    """A clock that stands still until moved."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


RETRO_WITH_SCRIPT = """---
title: Payments release 4.2 retrospective
project: PAY
date: 2026-02-10
tags: [release, database]
---
# Payments release 4.2 retrospective

## What went wrong
- The database migration locked the orders table for 40 minutes \
<script>window.__pwned = 1; document.title = "pwned"</script>
- Nobody had rehearsed the rollback [runbook](javascript:window.__pwned=2) \
before the release window.

## Lessons learned
- Rehearse every schema migration on a production-sized copy and time it.
- Keep the rollback script next to the migration and test it in staging.
"""


@dataclass
class FakeAudit:
    """An audit source holding rows in memory."""

    rows: list[Any] = field(default_factory=list)
    counts: list[Any] = field(default_factory=list)

    def entries(
        self,
        *,
        issue=None,
        rule=None,
        project=None,
        outcome=None,
        since=None,
        before=None,
        limit=200,
    ):
        from webhooks.web.audit import AuditRows

        found = [
            row
            for row in self.rows
            if (issue is None or row.issue_key == issue)
            and (rule is None or row.rule == rule)
            and (project is None or row.project == project)
            and (outcome is None or row.outcome == outcome)
            and (since is None or row.at >= since)
            and (before is None or row.id < before)
        ]
        return AuditRows(found[:limit], found[limit - 1].id if len(found) > limit else None)

    def outcome_counts(self, *, since):
        return [c for c in self.counts if c.day >= since]


def make_web_app(tmp_path, *, access=None, audit=None, clock=None):
    """A Flask app with only the lessons pages and API over a real store with a fake embedder."""
    from flask import Flask

    from plugin.lessons.config import LessonsSettings
    from plugin.lessons.services import LessonsOptions, build_services
    from tests.kb.fakes import HashingEmbedder
    from webhooks.web import LessonsWeb, register_lessons_web
    from webhooks.web.context import AccessRules

    options = LessonsOptions(
        db=tmp_path / "hindsight.db",
        base_url="http://hindsight.test",
        feedback_secrets=("web-test-secret",),
    )
    services = build_services(
        options,
        embedder=HashingEmbedder(),
        policy=LessonsSettings(threshold=0.1),
        clock=clock or (lambda: datetime.now(UTC)),
    )
    assert services.store is not None
    services.store.ingest_source("retros/pay-4.2.md", RETRO_WITH_SCRIPT)
    app = Flask("lessons-test")
    app.config["TESTING"] = True
    register_lessons_web(
        app, LessonsWeb(services=services, access=access or AccessRules(), audit=audit)
    )
    return app, services
