"""Seed a new project with the lessons that matter for its kind of work.

One "Lessons to apply" issue listing them with links (or, configurable, an epic with one sub-task
per lesson), labelled so a second run finds it in Jira even if our own record was lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from kb.search import MAX_QUERY_CHARS
from plugin.jira.port import IssueRef, JiraPort, Project
from plugin.lessons.comment import lesson_url, one_line, wiki_escape
from plugin.lessons.config import LessonsSettings, SeedSettings
from plugin.lessons.index import LessonIndex
from plugin.lessons.journal import LessonsJournal
from plugin.lessons.ranking import rank_lessons

SEED_LABEL = "hindsight-lessons"
SEED_SUMMARY = "Lessons to apply"
SeedAction = Literal["created", "already-seeded", "none", "disabled"]


class SeedError(Exception):
    """The project cannot be seeded as configured (e.g. it has no usable issue type)."""


@dataclass(frozen=True)
class SeededLesson:
    lesson_id: str
    title: str
    text: str
    similarity: float


@dataclass(frozen=True)
class SeedOutcome:
    project_key: str
    action: SeedAction
    issue_key: str | None = None
    lessons: tuple[SeededLesson, ...] = ()
    subtasks: tuple[str, ...] = ()


def project_query(project: Project) -> str:
    """The text that describes a project's kind of work (at most the longest query searched)."""
    parts = [project.name, project.description, project.category or "", project.project_type or ""]
    return "\n".join(part for part in parts if part).strip()[:MAX_QUERY_CHARS]


class ProjectSeeder:
    """Creates the seed issue (or epic) for a project, once."""

    def __init__(
        self,
        index: LessonIndex,
        journal: LessonsJournal,
        policy: LessonsSettings,
        *,
        base_url: str,
        record_seeds: bool = True,
    ) -> None:
        self.index = index
        self.journal = journal
        self.policy = policy
        self.base_url = base_url
        # Report-only runs create nothing, so they must not mark the project as seeded.
        self.record_seeds = record_seeds

    def choose(self, project: Project, settings: SeedSettings, limit: int) -> list[SeededLesson]:
        """The lessons closest to the project's description, helpful ones first among equals."""
        ranked = rank_lessons(
            self.index,
            self.journal,
            project_query(project),
            threshold=settings.threshold,
            limit=limit,
            candidates=max(limit * 3, 20),
        )
        return [SeededLesson(s.hit.id, s.hit.title, s.hit.text, s.similarity) for s in ranked]

    def seed(
        self,
        jira: JiraPort,
        project_key: str,
        *,
        limit: int | None = None,
        project: Project | None = None,
    ) -> SeedOutcome:
        """Seed `project_key` unless it already was (by us, recorded or found in Jira).

        `project` stands in for reading the project from Jira (report-only runs have only the
        delivery's copy).
        """
        settings = self.policy.seed
        if not settings.enabled:
            return SeedOutcome(project_key, "disabled")
        recorded = self.journal.seed(project_key)
        if recorded:
            return SeedOutcome(project_key, "already-seeded", recorded.issue_key)
        found = next(
            iter(
                jira.search(f'project = "{project_key}" AND labels = "{SEED_LABEL}"', page_size=1)
            ),
            None,
        )
        project = project or jira.get_project(project_key)
        lessons = self.choose(project, settings, limit or settings.limit)
        if found is not None and settings.mode == "issue":
            self._record(project_key, found.key, settings.mode, [])
            return SeedOutcome(project_key, "already-seeded", found.key)
        if not lessons and found is None:
            return SeedOutcome(project_key, "none")
        if settings.mode == "epic":
            return self._seed_epic(jira, project, settings, lessons, found.key if found else None)
        issue = jira.create_issue(
            project_key,
            self._issue_type(project, settings.issue_type),
            SEED_SUMMARY,
            self._description(lessons),
            fields={"labels": [SEED_LABEL]},
        )
        self._record(project_key, issue.key, "issue", [s.lesson_id for s in lessons])
        return SeedOutcome(project_key, "created", issue.key, tuple(lessons))

    def _seed_epic(
        self,
        jira: JiraPort,
        project: Project,
        settings: SeedSettings,
        lessons: list[SeededLesson],
        existing_epic: str | None,
    ) -> SeedOutcome:
        """The epic and one sub-task per lesson; after a crash, only the missing sub-tasks."""
        if existing_epic is None:
            epic = jira.create_issue(
                project.key,
                self._issue_type(project, settings.epic_type),
                SEED_SUMMARY,
                "Lessons from past projects to apply here, one sub-task each.",
                fields={"labels": [SEED_LABEL]},
            )
            epic_key, have = epic.key, set()
        else:
            epic_key = existing_epic
            have = {ref.summary for ref in jira.get_issue(epic_key).subtasks}
        made: list[IssueRef] = []
        for lesson in lessons:
            summary = _subtask_summary(lesson)
            if summary in have:
                continue
            made.append(
                jira.create_subtask(
                    epic_key,
                    summary,
                    f"{wiki_escape(lesson.text)}\n\n[Read the lesson|"
                    f"{lesson_url(self.base_url, lesson.lesson_id)}]",
                )
            )
        self._record(project.key, epic_key, "epic", [s.lesson_id for s in lessons])
        return SeedOutcome(
            project.key, "created", epic_key, tuple(lessons), tuple(ref.key for ref in made)
        )

    def _record(self, project_key: str, issue_key: str, mode: str, lesson_ids: list[str]) -> None:
        if self.record_seeds:
            self.journal.record_seed(project_key, issue_key, mode, lesson_ids)

    def _description(self, lessons: list[SeededLesson]) -> str:
        lines = [
            "Hindsight picked these lessons from past retrospectives for a project like this one. "
            "Read each, decide how it applies, and tick it off in a comment.",
            "",
        ]
        for lesson in lessons:
            title = wiki_escape(one_line(lesson.title or lesson.text, 100))
            lines.append(
                f"* [{title}|{lesson_url(self.base_url, lesson.lesson_id)}]: "
                f"{wiki_escape(one_line(lesson.text))}"
            )
        return "\n".join(lines)

    @staticmethod
    def _issue_type(project: Project, wanted: str) -> str:
        """`wanted` if the project has it, else its first standard (non-sub-task) type."""
        standard = [t for t in project.issue_types if not t.subtask]
        if not project.issue_types or any(t.name.lower() == wanted.lower() for t in standard):
            return wanted
        if not standard:
            raise SeedError(
                f"project {project.key} has no standard issue type to hold its lessons; "
                "set suggestions.seed.issue_type in the policy file to one it has"
            )
        return standard[0].name


def _subtask_summary(lesson: SeededLesson) -> str:
    return "Apply: " + one_line(lesson.title or lesson.text, 200)
