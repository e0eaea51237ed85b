from __future__ import annotations

import pytest

from plugin.jira.port import Comment, IssueType
from plugin.lessons.capture import RetrospectiveCapturer, retrospective_markdown, wiki_to_markdown
from plugin.lessons.config import LessonsSettings
from testkit.memory_jira import DONE

BROWSE = "https://jira.example.test"
RETRO = IssueType("7", "Retrospective")


@pytest.fixture
def capturer(index, journal) -> RetrospectiveCapturer:
    return RetrospectiveCapturer(index, journal, LessonsSettings(), browse_base=BROWSE + "/")


def put_retro(jira, key="PAY-5", **fields):
    fields.setdefault("summary", "Release 4.2 retrospective")
    fields.setdefault("description", "h2. What went wrong\n* The cache warmed too slowly.")
    fields.setdefault("comments", (Comment("1", "Warm the cache before switching traffic."),))
    return jira.put(key, issuetype=RETRO, status=DONE, resolution="Done", **fields)


def test_a_resolved_retrospective_is_ingested_with_its_browse_url(jira, index, capturer) -> None:
    put_retro(jira)
    outcome = capturer.capture(jira, "PAY-5")
    assert outcome.action == "captured"
    assert outcome.source == f"{BROWSE}/browse/PAY-5"
    texts = [lesson.text for lesson in index.lessons if lesson.source == outcome.source]
    assert any("cache warmed too slowly" in text for text in texts)
    assert any("Warm the cache before" in text for text in texts)


def test_an_unchanged_issue_is_not_ingested_again(jira, index, capturer, monkeypatch) -> None:
    put_retro(jira)
    capturer.capture(jira, "PAY-5")
    before = list(index.lessons)
    assert capturer.capture(jira, "PAY-5").action == "unchanged"
    assert index.lessons == before


def test_a_later_edit_replaces_the_lessons(jira, index, capturer) -> None:
    put_retro(jira)
    capturer.capture(jira, "PAY-5")
    jira.update("PAY-5", description="h2. Lessons learned\n* Load-test the new region first.")
    outcome = capturer.capture(jira, "PAY-5")
    assert outcome.action == "updated"
    texts = " ".join(lesson.text for lesson in index.lessons if lesson.source == outcome.source)
    assert "Load-test the new region" in texts
    assert "cache warmed too slowly" not in texts


def test_labelled_issues_count_and_others_do_not(jira, capturer) -> None:
    jira.put("PAY-6", summary="Bug", status=DONE, resolution="Fixed")
    jira.put(
        "PAY-7",
        summary="Sprint 9",
        description="We shipped late because reviews queued up for days.",
        labels=("Retrospective",),
        status=DONE,
        resolution="Done",
    )
    assert capturer.capture(jira, "PAY-6").action == "not-retrospective"
    assert capturer.capture(jira, "PAY-7").action == "captured"


def test_an_open_retrospective_waits_until_resolved(jira, capturer) -> None:
    jira.put("PAY-8", summary="Retro", issuetype=RETRO)
    assert capturer.capture(jira, "PAY-8").action == "not-resolved"


def test_markdown_keeps_headings_and_skips_hindsight_comments(jira) -> None:
    issue = put_retro(
        jira, comments=(Comment("2", "{anchor:hindsight-lessons}suggestions"), Comment("3", "ok"))
    )
    markdown = retrospective_markdown(issue)
    assert "## What went wrong" in markdown
    assert "suggestions" not in markdown
    assert wiki_to_markdown("# first\n# second") == "1. first\n1. second"


def test_an_empty_retrospective_is_reported_not_retried(jira, capturer) -> None:
    jira.put("PAY-9", summary="", issuetype=RETRO, status=DONE, resolution="Done")
    outcome = capturer.capture(jira, "PAY-9")
    assert outcome.action == "unreadable"
    assert "no lessons" in outcome.error
