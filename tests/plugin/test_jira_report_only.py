"""ReportOnlyJira: reads from a snapshot or a real port, every write recorded and not made."""

from __future__ import annotations

import pytest

from plugin.jira.errors import JiraApiError
from plugin.jira.port import Issue, IssueType, Status, User
from plugin.jira.report_only import PlannedWrite, ReportOnlyJira
from testkit.fakejira import FakeJira

SNAPSHOT = Issue(
    key="CHG-7",
    id="10070",
    project="CHG",
    issuetype=IssueType("10100", "Change"),
    status=Status("10002", "Deploying", "indeterminate"),
    fields={"customfield_10050": {"value": "Normal"}},
)


def test_snapshot_reads_and_planned_writes() -> None:
    jira = ReportOnlyJira(snapshot=SNAPSHOT)

    assert jira.get_issue("CHG-7") is SNAPSHOT and jira.get_issue("10070") is SNAPSHOT
    assert jira.get_transitions("CHG-7") == []  # unknown without Jira: plan the fallback
    assert jira.get_project("CHG").issue_types == (SNAPSHOT.issuetype,)
    assert jira.field_id("customfield_10050") == "customfield_10050"
    assert list(jira.search("project = CHG")) == []
    assert jira.user_groups(User(account_id="x")) == frozenset()
    with pytest.raises(JiraApiError) as caught:
        jira.get_issue("CHG-8")
    assert caught.value.status == 404 and not caught.value.retryable
    with pytest.raises(KeyError, match="name it by id"):
        jira.field_id("Change type")

    comment = jira.add_comment("CHG-7", "Reverted")
    jira.transition_issue("CHG-7", "61", {"resolution": None})
    sub = jira.create_subtask("CHG-7", "Get approval", assignee=User(name="bob"))
    jira.add_labels("CHG-7", ["policy-violation"])

    assert comment.body == "Reverted" and sub.key.startswith("PLANNED-")
    assert [(w.operation, w.key) for w in jira.writes] == [
        ("add_comment", "CHG-7"),
        ("transition_issue", "CHG-7"),
        ("create_subtask", "CHG-7"),
        ("add_labels", "CHG-7"),
    ]
    assert jira.writes[1].arguments == {"transition_id": "61", "fields": {"resolution": None}}
    assert jira.writes[3].describe() == "add_labels CHG-7(labels=('policy-violation',))"


def test_reads_go_to_the_real_jira_and_writes_do_not(fake_jira: FakeJira, jira_adapter) -> None:
    key = fake_jira.add_issue("CHG", "Change", "x", status="In Progress")
    requests_before = len(fake_jira.requests)
    jira = ReportOnlyJira(reads=jira_adapter)

    assert jira.get_issue(key).status.name == "In Progress"
    assert {t.name for t in jira.get_transitions(key)} >= {"Stop work"}
    assert jira.field_id("Next review") == "customfield_10051"
    jira.transition_issue(key, "51")
    jira.set_fields(key, {"Next review": "2024-01-01"})
    jira.edit_comment(key, "1", "x")
    jira.create_issue("CHG", "Task", "Follow-up")
    jira.remove_labels(key, ["a"])

    assert fake_jira.issue(key).status.name == "In Progress"
    assert all(r.method == "GET" for r in fake_jira.requests[requests_before:])
    assert [w.operation for w in jira.writes] == [
        "transition_issue",
        "set_fields",
        "edit_comment",
        "create_issue",
        "remove_labels",
    ]
    assert isinstance(jira.writes[0], PlannedWrite)
