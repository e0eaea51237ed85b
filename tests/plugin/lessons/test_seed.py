from __future__ import annotations

import pytest

from plugin.jira.port import IssueType, Project
from plugin.lessons.config import LessonsSettings, SeedSettings
from plugin.lessons.seed import SEED_LABEL, ProjectSeeder, SeedError
from tests.plugin.lessons.conftest import BASE

TYPES = (IssueType("1", "Task"), IssueType("2", "Epic"), IssueType("3", "Sub-task", subtask=True))


def make_seeder(index, journal, **seed) -> ProjectSeeder:
    policy = LessonsSettings(seed=SeedSettings(threshold=0.1, **seed))
    return ProjectSeeder(index, journal, policy, base_url=BASE)


@pytest.fixture
def jira(jira):
    jira.projects["DB"] = Project(
        "DB",
        "10",
        "Database platform",
        "Schema migration and release of the payments database",
        category="Infrastructure",
        project_type="software",
        issue_types=TYPES,
    )
    return jira


def test_creates_one_lessons_issue_with_links(jira, index, journal) -> None:
    outcome = make_seeder(index, journal).seed(jira, "DB")
    assert outcome.action == "created"
    issue = jira.get_issue(outcome.issue_key)
    assert issue.summary == "Lessons to apply"
    assert SEED_LABEL in issue.labels
    assert f"{BASE}/lessons/L-migrate" in issue.description
    assert "L-vendor" not in issue.description  # nothing in common with a database project


def test_running_twice_does_not_seed_twice(jira, index, journal) -> None:
    seeder = make_seeder(index, journal)
    first = seeder.seed(jira, "DB")
    second = seeder.seed(jira, "DB")
    assert second.action == "already-seeded"
    assert second.issue_key == first.issue_key
    assert [w for w in jira.operations() if w[0] == "create_issue"] == [("create_issue", "DB-1")]


def test_finds_its_issue_in_jira_when_its_record_is_lost(jira, index, journal, clock) -> None:

    from plugin.lessons.journal import SQLiteLessonsJournal

    make_seeder(index, journal).seed(jira, "DB")
    fresh = SQLiteLessonsJournal(":memory:", clock=clock)
    outcome = make_seeder(index, fresh).seed(jira, "DB")
    assert outcome.action == "already-seeded"
    assert len(jira.writes) == 1


def test_limit_caps_the_lessons(jira, index, journal) -> None:
    outcome = make_seeder(index, journal).seed(jira, "DB", limit=1)
    assert len(outcome.lessons) == 1


def test_epic_mode_makes_one_subtask_per_lesson_and_completes_after_a_crash(jira, index, journal):
    seeder = make_seeder(index, journal, mode="epic")
    outcome = seeder.seed(jira, "DB")
    epic = jira.get_issue(outcome.issue_key)
    assert epic.issuetype.name == "Epic"
    assert len(epic.subtasks) == len(outcome.lessons) == 2
    # Simulate a crash after the epic and one sub-task: the record is gone, one sub-task missing.

    from plugin.lessons.journal import SQLiteLessonsJournal

    jira.update(epic.key, subtasks=epic.subtasks[:1])
    again = make_seeder(index, SQLiteLessonsJournal(":memory:"), mode="epic")
    redo = again.seed(jira, "DB")
    assert redo.issue_key == epic.key
    assert len(redo.subtasks) == 1
    assert len(jira.get_issue(epic.key).subtasks) == 2


def test_nothing_relevant_creates_nothing(jira, index, journal) -> None:
    index.lessons.clear()
    assert make_seeder(index, journal).seed(jira, "DB").action == "none"
    assert jira.writes == []


def test_a_project_without_the_configured_type_uses_its_first_standard_type(
    jira, index, journal
) -> None:
    jira.projects["DB"] = Project("DB", "10", "Database migration", issue_types=TYPES[1:])
    outcome = make_seeder(index, journal).seed(jira, "DB")
    assert jira.get_issue(outcome.issue_key).issuetype.name == "Epic"
    jira.projects["SUB"] = Project("SUB", "11", "Database migration", issue_types=TYPES[2:])
    with pytest.raises(SeedError, match="issue_type"):
        make_seeder(index, journal).seed(jira, "SUB")


def test_disabled_seeding_does_nothing(jira, index, journal) -> None:
    assert make_seeder(index, journal, enabled=False).seed(jira, "DB").action == "disabled"
