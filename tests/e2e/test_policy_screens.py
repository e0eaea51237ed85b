"""The policy engine against screens that lack fields (real adapter, fake Jira, both flavours).

A project whose sub-task create screen lacks the due date and the assignee still gets its
review sub-task; an edit screen without "Flagged" makes the flag "not possible", said once,
while the comment, the label, the revert and the sub-task still happen.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from plugin.policy.decision import PolicyDecision, Trigger
from plugin.policy.engine import PolicyEngine
from plugin.policy.loader import parse_policy
from plugin.policy.sweep import last_status_change
from testkit.clock import StepClock
from testkit.fakejira import FakeJira
from testkit.fakejira.fixtures import adapter_for
from testkit.fakejira.workflows import SUBTASK_TYPE

FLAGGED = "customfield_10021"
POLICY = """
version: 1
rules:
  - name: change-control
    kind: change-control
    scope: {projects: [CHG], issue_types: [Change]}
    guard: {statuses: [Deploying]}
    change_types:
      field: Change type
      normal: {values: [Normal], requires: {fields: [Backout plan]}}
      emergency:
        values: [Emergency]
        review: {summary: Post-implementation review, assignee: reporter, label: emergency}
"""


@pytest.fixture(params=["cloud", "server"])
def fake(request, fake_jira_factory) -> FakeJira:
    fake = fake_jira_factory(request.param)
    fake.add_field("Flagged", FLAGGED, {"type": "array", "items": "option"})
    fake.add_field("Backout plan", "customfield_10090")
    return fake


def _judge(fake: FakeJira, key: str) -> PolicyDecision:
    engine = PolicyEngine(
        parse_policy(POLICY),
        adapter_for(fake),
        clock=StepClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC)),
    )
    issue = engine.jira.get_issue(key)
    trigger = Trigger("jira:issue_updated", "test", None, last_status_change(issue))
    [decision] = engine.evaluate_issue(issue, trigger)
    return decision


def _results(decision: PolicyDecision) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for action in decision.actions:
        found.setdefault(action.kind, []).append(action.result)
    return found


def _emergency(fake: FakeJira) -> str:
    key = fake.add_issue(
        "CHG", "Change", "Hotfix login", status="In Progress", reporter="bob",
        fields={"Change type": {"value": "Emergency"}},
    )  # fmt: skip
    fake.move(key, "Deploying", as_user="bob")
    return key


def test_a_sub_task_screen_without_due_date_and_assignee_still_gets_the_review(fake) -> None:
    fake.screens.hide("CHG", SUBTASK_TYPE.name, "duedate", "assignee", screen="create")
    key = _emergency(fake)

    decision = _judge(fake, key)

    [review_key] = fake.issue(key).subtasks
    review = fake.issue(review_key)
    assert review.fields["summary"] == "Post-implementation review"
    assert "duedate" not in review.fields and review.assignee is None
    [create] = [a for a in decision.actions if a.kind == "create-subtask"]
    assert create.result == "done"
    assert "without due date, assignee: not on the create screen of Sous-tâche in CHG" in (
        create.detail
    )
    assert _results(decision)["flag"] == ["done"]
    assert fake.issue(key).fields[FLAGGED] == [{"value": "Impediment"}]


def test_the_full_create_screen_gets_due_date_and_assignee(fake) -> None:
    key = _emergency(fake)
    _judge(fake, key)
    review = fake.issue(fake.issue(key).subtasks[0])
    assert review.fields["duedate"] == "2026-03-04"
    assert review.assignee is not None and review.assignee.name == "bob"


def test_flag_off_the_edit_screen_is_said_once_and_the_rest_still_happens(fake) -> None:
    fake.screens.hide("CHG", "Change", FLAGGED, screen="edit")
    key = _emergency(fake)

    decision = _judge(fake, key)

    results = _results(decision)
    assert results["create-subtask"] == ["done"] and results["label"] == ["done"]
    [flag] = results["flag"]
    assert flag.startswith("not possible: 'Flagged' is not on the edit screen of")
    assert not any(FLAGGED in str(r.body) for r in fake.requests if r.method == "PUT")
    assert "emergency" in fake.issue(key).fields["labels"]


def test_without_a_way_back_or_a_flag_the_comment_says_what_was_done(fake) -> None:
    fake.screens.hide("CHG", "Change", FLAGGED, screen="edit")
    key = fake.add_issue(
        "CHG", "Change", "Upgrade db", status="Awaiting approval", reporter="bob",
        fields={"Change type": {"value": "Normal"}},
    )  # fmt: skip
    fake.move(key, "Deploying", as_user="bob")  # no way back out of Deploying

    decision = _judge(fake, key)

    results = _results(decision)
    assert results["revert"][0].startswith("not possible")
    assert results["comment"] == ["done"] and results["label"] == ["done"]
    assert len(results["flag"]) == 1 and results["flag"][0].startswith("not possible")
    [comment] = fake.comments(key)
    assert "so it is labelled _policy-violation_" in comment.body
    assert "It could not flag it: 'Flagged' is not on the edit screen" in comment.body
    assert "flagged and labelled" not in comment.body


def test_guard_revert_false_never_moves_back_and_flags_instead(fake) -> None:
    policy = POLICY.replace(
        "guard: {statuses: [Deploying]}", "guard: {statuses: [Deploying], revert: false}"
    )
    key = fake.add_issue(
        "CHG", "Change", "Upgrade db", status="In Progress", reporter="bob",
        fields={"Change type": {"value": "Normal"}},
    )  # fmt: skip
    fake.move(key, "Deploying", as_user="bob")  # "Emergency deploy": no way back either
    engine = PolicyEngine(
        parse_policy(policy),
        adapter_for(fake),
        clock=StepClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC)),
    )
    issue = engine.jira.get_issue(key)
    [decision] = engine.evaluate_issue(
        issue, Trigger("jira:issue_updated", "t", None, last_status_change(issue))
    )

    assert _results(decision)["revert"] == ["not attempted: the rule's guard says revert: false"]
    assert not any(r.path.endswith("/transitions") for r in fake.requests)
    assert fake.issue(key).fields[FLAGGED] == [{"value": "Impediment"}]
    assert "revert: false" in fake.comments(key)[0].body
