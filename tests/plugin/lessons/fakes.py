"""Small in-memory stand-ins for Jira and the knowledge base, for the lessons unit tests."""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from kb.errors import LessonNotFoundError
from kb.readers import read_text
from kb.records import Lesson, SearchHit, Snippet
from kb.text import significant_terms
from plugin.jira.port import (
    Comment,
    Identity,
    Issue,
    IssueRef,
    IssueType,
    Project,
    Status,
    Transition,
    User,
)
from plugin.lessons.index import Retrospective

_WORD = re.compile(r"\w+")
TODO = Status("1", "To Do", "new")
DONE = Status("3", "Done", "done")


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


@dataclass
class FakeJira:
    """A JiraPort over dicts that applies writes and counts them."""

    issues: dict[str, Issue] = field(default_factory=dict)
    projects: dict[str, Project] = field(default_factory=dict)
    writes: list[tuple[str, str]] = field(default_factory=list)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(100))

    def put(self, key: str, **fields: Any) -> Issue:
        project = key.rsplit("-", 1)[0]
        issue = Issue(
            key=key,
            id=str(next(self._ids)),
            project=project,
            issuetype=fields.pop("issuetype", IssueType("10001", "Task")),
            status=fields.pop("status", TODO),
            **fields,
        )
        self.issues[key] = issue
        return issue

    def update(self, key: str, **fields: Any) -> Issue:
        self.issues[key] = replace(self.issues[key], **fields)
        return self.issues[key]

    def get_issue(self, key: str) -> Issue:
        return self.issues[key]

    def add_comment(self, key: str, body: str) -> Comment:
        comment = Comment(str(next(self._ids)), body, User(account_id="hindsight"))
        self.update(key, comments=(*self.issues[key].comments, comment))
        self.writes.append(("add_comment", key))
        return comment

    def edit_comment(self, key: str, comment_id: str, body: str) -> None:
        comments = tuple(
            replace(c, body=body) if c.id == comment_id else c for c in self.issues[key].comments
        )
        self.update(key, comments=comments)
        self.writes.append(("edit_comment", key))

    def create_issue(
        self,
        project_key: str,
        issuetype: str,
        summary: str,
        description: str = "",
        *,
        fields: Mapping[str, Any] | None = None,
    ) -> IssueRef:
        number = sum(1 for key in self.issues if key.startswith(project_key + "-")) + 1
        key = f"{project_key}-{number}"
        self.put(
            key,
            summary=summary,
            description=description,
            issuetype=IssueType("1", issuetype),
            labels=tuple((fields or {}).get("labels", ())),
        )
        self.writes.append(("create_issue", key))
        return IssueRef(key, self.issues[key].id, summary)

    def create_subtask(
        self,
        parent_key: str,
        summary: str,
        description: str = "",
        *,
        assignee: User | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> IssueRef:
        ref = self.create_issue(parent_key.rsplit("-", 1)[0], "Sub-task", summary, description)
        self.update(ref.key, parent=parent_key)
        parent = self.issues[parent_key]
        self.update(parent_key, subtasks=(*parent.subtasks, ref))
        self.writes[-1] = ("create_subtask", ref.key)
        return ref

    def search(self, jql: str, *, page_size: int = 50) -> Iterator[Issue]:
        project = re.search(r'project = "([^"]+)"', jql)
        label = re.search(r'labels = "([^"]+)"', jql)
        for issue in list(self.issues.values()):
            if project and issue.project != project.group(1):
                continue
            if label and label.group(1) not in issue.labels:
                continue
            yield issue

    def get_project(self, key: str) -> Project:
        return self.projects[key]

    def get_transitions(self, key: str) -> list[Transition]:
        return []

    def transition_issue(self, key: str, transition_id: str, fields: Any = None) -> None:
        raise NotImplementedError

    def add_labels(self, key: str, labels: Iterable[str]) -> None:
        raise NotImplementedError

    def remove_labels(self, key: str, labels: Iterable[str]) -> None:
        raise NotImplementedError

    def set_fields(self, key: str, fields: Mapping[str, Any]) -> None:
        raise NotImplementedError

    def field_id(self, name_or_id: str) -> str:
        return name_or_id

    def user_groups(self, user: User) -> frozenset[str]:
        return frozenset()

    def myself(self) -> Identity:
        return Identity(User(account_id="hindsight"), "cloud")


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

    def entries(self, *, issue=None, rule=None, project=None, since=None, limit=200):
        return [
            row
            for row in self.rows
            if (issue is None or row.issue_key == issue)
            and (rule is None or row.rule == rule)
            and (project is None or row.project == project)
            and (since is None or row.at >= since)
        ][:limit]

    def outcome_counts(self, *, since=None):
        return [c for c in self.counts if since is None or c.day >= since]


def make_web_app(tmp_path, *, access=None, audit=None, clock=None):
    """A Flask app with only the lessons pages and API over a real store with a fake embedder."""
    from flask import Flask

    from plugin.lessons.config import StaticLessonsPolicy, SuggestionSettings
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
        policy=StaticLessonsPolicy(suggestions=SuggestionSettings(threshold=0.1)),
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
