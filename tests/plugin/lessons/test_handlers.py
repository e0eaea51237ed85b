from __future__ import annotations

import pytest

from plugin.dispatch import Dispatcher, HandlerFailed
from plugin.events import JiraEvent
from plugin.jira.errors import JiraApiError
from plugin.jira.port import IssueType, Project
from plugin.lessons.capture import RetrospectiveCapturer
from plugin.lessons.config import LessonsSettings, SeedSettings
from plugin.lessons.handlers import LessonsHandlers
from plugin.lessons.seed import ProjectSeeder
from testkit.memory_jira import DONE, TASK
from tests.plugin.lessons.conftest import BASE

MIGRATION = "Database migration for the payments release"


def issue_payload(event: str, key: str, summary: str, **extra) -> dict:
    fields = {
        "summary": summary,
        "description": extra.pop("description", ""),
        "project": {"key": key.split("-")[0]},
        "issuetype": {"id": "1", "name": extra.pop("issuetype", "Task")},
        "status": {"id": "1", "name": "To Do"},
        "labels": extra.pop("labels", []),
    }
    return {"webhookEvent": event, "issue": {"id": "1", "key": key, "fields": fields}, **extra}


def make_dispatcher(jira, index, journal, suggester, *, report_only=False) -> Dispatcher:
    policy = LessonsSettings(seed=SeedSettings(threshold=0.1))
    handlers = LessonsHandlers(
        suggester,
        ProjectSeeder(index, journal, policy, base_url=BASE),
        RetrospectiveCapturer(index, journal, policy, browse_base="https://jira.test"),
        lambda event: jira,
        report_only=report_only,
    )
    dispatcher = Dispatcher()
    handlers.register(dispatcher)
    return dispatcher


def results(dispatcher, payload) -> dict:
    return dict(dispatcher.dispatch(JiraEvent.from_payload(payload), "delivery-1"))


def test_a_new_issue_gets_suggestions_once(jira, index, journal, suggester) -> None:
    dispatcher = make_dispatcher(jira, index, journal, suggester)
    jira.put("PAY-1", summary=MIGRATION, description="rollback plan for the schema migration")
    payload = issue_payload("jira:issue_created", "PAY-1", MIGRATION)
    first = results(dispatcher, payload)["lessons.suggest"]
    assert first.outcome == "acted"
    assert "3 lessons" in first.detail or "2 lessons" in first.detail
    titles = {lesson["title"] for lesson in first.data["lessons"]}
    assert "Rehearse database migrations" in titles
    second = results(dispatcher, payload)["lessons.suggest"]
    assert second.outcome == "no-op"
    assert jira.operations() == [("add_comment", "PAY-1")]


def test_a_refused_suggestion_comment_is_made_once_when_the_delivery_is_retried(
    jira, index, journal, suggester
) -> None:
    dispatcher = make_dispatcher(jira, index, journal, suggester)
    jira.put("PAY-1", summary=MIGRATION, description="rollback plan for the schema migration")
    payload = issue_payload("jira:issue_created", "PAY-1", MIGRATION)
    jira.fail("add_comment", status=503, message="busy")

    with pytest.raises(HandlerFailed) as failed:
        results(dispatcher, payload)
    assert isinstance(failed.value.cause, JiraApiError) and failed.value.cause.retryable
    assert jira.issues["PAY-1"].comments == ()

    retried = results(dispatcher, payload)["lessons.suggest"]
    assert retried.outcome == "acted"
    assert len(jira.issues["PAY-1"].comments) == 1
    assert results(dispatcher, payload)["lessons.suggest"].outcome == "no-op"


def test_report_only_runs_say_reported(jira, index, journal, suggester) -> None:
    dispatcher = make_dispatcher(jira, index, journal, suggester, report_only=True)
    jira.put("PAY-1", summary=MIGRATION)
    result = results(dispatcher, issue_payload("jira:issue_created", "PAY-1", MIGRATION))
    assert result["lessons.suggest"].outcome == "reported"


def test_updates_suggest_only_on_a_substantial_text_change(jira, index, journal, suggester):
    dispatcher = make_dispatcher(jira, index, journal, suggester)
    jira.put("PAY-1", summary=MIGRATION)

    def change(old: str, new: str, field: str = "summary") -> dict:
        item = {"field": field, "fieldId": field, "fromString": old, "toString": new}
        payload = issue_payload("jira:issue_updated", "PAY-1", new)
        payload["changelog"] = {"id": "5", "items": [item]}
        return results(dispatcher, payload)["lessons.suggest"]

    assert change(MIGRATION, MIGRATION + ".").outcome == "skipped"
    assert change("Old words entirely", MIGRATION).outcome == "acted"
    labels = issue_payload("jira:issue_updated", "PAY-1", MIGRATION)
    labels["changelog"] = {"items": [{"field": "labels", "fromString": "", "toString": "x"}]}
    assert results(dispatcher, labels)["lessons.suggest"].outcome == "skipped"


def test_resolved_retrospective_is_captured(jira, index, journal, suggester) -> None:
    dispatcher = make_dispatcher(jira, index, journal, suggester)
    jira.put(
        "PAY-7",
        summary="Release retrospective",
        description="h2. Lessons learned\n* Freeze schema changes a week before release.",
        issuetype=IssueType("7", "Retrospective"),
        status=DONE,
        resolution="Done",
    )
    payload = issue_payload(
        "jira:issue_updated", "PAY-7", "Release retro", issuetype="Retrospective"
    )
    result = results(dispatcher, payload)["lessons.capture"]
    assert result.outcome == "acted"
    assert any(lesson.source == "https://jira.test/browse/PAY-7" for lesson in index.lessons)
    assert results(dispatcher, payload)["lessons.capture"].outcome == "no-op"
    other = issue_payload("jira:issue_updated", "PAY-1", "A task")
    assert results(dispatcher, other)["lessons.capture"].outcome == "skipped"


def test_project_created_seeds_once(jira, index, journal, suggester) -> None:
    dispatcher = make_dispatcher(jira, index, journal, suggester)
    jira.projects["DB"] = Project(
        "DB",
        "9",
        "Database platform",
        "schema migration and rollback of the database",
        issue_types=(TASK,),
    )
    payload = {"webhookEvent": "project_created", "project": {"key": "DB", "name": "Database"}}
    assert results(dispatcher, payload)["lessons.seed"].outcome == "acted"
    assert results(dispatcher, payload)["lessons.seed"].outcome == "no-op"
    assert [w for w in jira.operations() if w[0] == "create_issue"] == [("create_issue", "DB-1")]
