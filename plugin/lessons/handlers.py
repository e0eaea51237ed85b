"""The lessons features as webhook event handlers: suggest, capture, seed.

Each handler re-reads what it needs through the Jira port, so duplicate, late and replayed
deliveries are harmless; results are data for the delivery log and metrics.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import Any

from plugin.dispatch import Dispatcher, HandlerResult
from plugin.events import JiraEvent
from plugin.jira.port import JiraPort, Project
from plugin.lessons.capture import RetrospectiveCapturer
from plugin.lessons.comment import one_line
from plugin.lessons.seed import ProjectSeeder
from plugin.lessons.suggest import Suggester, text_changed_substantially

JiraFor = Callable[[JiraEvent], JiraPort]
TEXT_FIELDS = ("summary", "description")
SUGGEST = "lessons.suggest"
CAPTURE = "lessons.capture"
SEED = "lessons.seed"


class LessonsHandlers:
    """Suggest on new and rewritten issues, capture resolved retrospectives, seed new projects."""

    def __init__(
        self,
        suggester: Suggester,
        seeder: ProjectSeeder,
        capturer: RetrospectiveCapturer,
        jira_for: JiraFor,
        *,
        report_only: bool,
    ) -> None:
        self.suggester = suggester
        self.seeder = seeder
        self.capturer = capturer
        self.jira_for = jira_for
        self.report_only = report_only

    def register(self, dispatcher: Dispatcher) -> None:
        dispatcher.register("jira:issue_created", SUGGEST, self.suggest_new_issue)
        dispatcher.register("jira:issue_updated", SUGGEST, self.suggest_rewritten_issue)
        dispatcher.register(
            ["jira:issue_created", "jira:issue_updated", "comment_created", "comment_updated"],
            CAPTURE,
            self.capture_retrospective,
        )
        dispatcher.register("project_created", SEED, self.seed_project)

    def _written(self, wrote: bool, detail: str, data: Mapping[str, Any]) -> HandlerResult:
        if not wrote:
            return HandlerResult("no-op", detail, data)
        return HandlerResult("reported" if self.report_only else "acted", detail, data)

    def suggest_new_issue(self, event: JiraEvent, delivery_key: str) -> HandlerResult:
        key = event.issue_key or event.issue_id
        if not key:
            return HandlerResult("skipped", "the delivery names no issue")
        outcome = self.suggester.suggest(self.jira_for(event), key)
        data = {
            "issue": outcome.issue_key,
            "action": outcome.action,
            "lessons": [
                {
                    "id": s.hit.id,
                    "title": s.hit.title,
                    "text": one_line(s.hit.text, 120),
                    "similarity": round(s.similarity, 3),
                }
                for s in outcome.suggestions
            ],
        }
        if outcome.action == "disabled":
            return HandlerResult("skipped", "suggestions are disabled for this project", data)
        if outcome.action == "none":
            return HandlerResult("no-op", "no lesson clears the project's threshold", data)
        if outcome.action == "unchanged":
            return HandlerResult("no-op", "the suggestion comment is up to date", data)
        count = len(outcome.suggestions)
        what = (
            f"{count} lesson{'s' if count != 1 else ''}" if count else "no lesson applies any more"
        )
        return self._written(True, f"{outcome.action} suggestion comment: {what}", data)

    def suggest_rewritten_issue(self, event: JiraEvent, delivery_key: str) -> HandlerResult:
        """Suggest again only when the summary or description changed substantially."""
        items = [
            item
            for item in (event.changelog.items if event.changelog else ())
            if (item.field_id or item.field.lower()) in TEXT_FIELDS
        ]
        if not any(
            text_changed_substantially(item.from_string or "", item.to_string or "")
            for item in items
        ):
            return HandlerResult("skipped", "no substantial change to summary or description")
        return self.suggest_new_issue(event, delivery_key)

    def capture_retrospective(self, event: JiraEvent, delivery_key: str) -> HandlerResult:
        snapshot = event.issue
        if snapshot is not None and not self.capturer.wants(snapshot):
            return HandlerResult("skipped", "not a retrospective issue")
        key = event.issue_key or event.issue_id
        if not key:
            return HandlerResult("skipped", "the delivery names no issue")
        outcome = self.capturer.capture(self.jira_for(event), key)
        data = asdict(outcome)
        if outcome.action in {"not-retrospective", "not-resolved"}:
            return HandlerResult("skipped", f"{outcome.issue_key}: {outcome.action}", data)
        if outcome.action == "unreadable":
            return HandlerResult("no-op", f"nothing to capture: {outcome.error}", data)
        if outcome.action == "unchanged":
            return HandlerResult("no-op", "the captured retrospective is up to date", data)
        # The knowledge base is ours: capturing writes even when Jira is report-only.
        detail = f"{outcome.action} {outcome.lessons} lessons from {outcome.source}"
        return HandlerResult("acted", detail, data)

    def seed_project(self, event: JiraEvent, delivery_key: str) -> HandlerResult:
        if not event.project_key:
            return HandlerResult("skipped", "the delivery names no project")
        known = project_from_payload(event.payload) if self.report_only else None
        outcome = self.seeder.seed(self.jira_for(event), event.project_key, project=known)
        data = {
            "project": outcome.project_key,
            "action": outcome.action,
            "issue": outcome.issue_key,
            "lessons": [
                {
                    "id": s.lesson_id,
                    "title": s.title,
                    "text": one_line(s.text, 120),
                    "similarity": round(s.similarity, 3),
                }
                for s in outcome.lessons
            ],
        }
        if outcome.action == "disabled":
            return HandlerResult("skipped", "seeding is disabled", data)
        if outcome.action == "none":
            return HandlerResult("no-op", "no lesson matches this project", data)
        if outcome.action == "already-seeded":
            return HandlerResult("no-op", f"already seeded by {outcome.issue_key}", data)
        detail = (
            f"created {outcome.issue_key or 'a lessons issue'} with {len(outcome.lessons)} lessons"
        )
        return self._written(True, detail, data)


def project_from_payload(payload: Mapping[str, Any]) -> Project | None:
    """The project as a `project_created` delivery describes it."""
    raw = payload.get("project")
    if not isinstance(raw, Mapping) or not raw.get("key"):
        return None
    category = raw.get("projectCategory")
    return Project(
        key=str(raw["key"]),
        id=str(raw.get("id", "")),
        name=str(raw.get("name", "")),
        description=str(raw.get("description") or ""),
        category=str(category.get("name")) if isinstance(category, Mapping) else None,
        project_type=raw.get("projectTypeKey"),
    )
