"""The default site the `fake_jira` fixture starts with: a small change-control setup."""

from __future__ import annotations

from testkit.fakejira.fake import FakeJira

CHANGE_TYPE = "customfield_10050"
NEXT_REVIEW = "customfield_10051"
RISK_LEVEL = "customfield_10052"


def populate_change_site(fake: FakeJira) -> FakeJira:
    """Users, groups, three custom fields and project CHG on the change workflow.

    - alice (change-managers), bob and carol (developers), all able to log in with API tokens
      `<name>-token` / PATs `<name>-pat`; the service account `hindsight-bot` is in no group.
    - "Change type" (select), "Next review" (date), "Risk level" (select).
    - CHG: issue types Change, Task, Bug and the sub-task type "Sous-tâche".
    """
    for name, group in (
        ("alice", "change-managers"),
        ("bob", "developers"),
        ("carol", "developers"),
    ):
        fake.add_user(name, groups=[group], api_token=f"{name}-token", pat=f"{name}-pat")
    fake.add_field(
        "Change type", CHANGE_TYPE, {"type": "option", "custom": "select", "customId": 10050}
    )
    fake.add_field(
        "Next review", NEXT_REVIEW, {"type": "date", "custom": "datepicker", "customId": 10051}
    )
    fake.add_field(
        "Risk level", RISK_LEVEL, {"type": "option", "custom": "select", "customId": 10052}
    )
    fake.add_project("CHG", "Change management", lead="alice", as_user="alice")
    fake.clear_webhooks()
    return fake


IMPACTS = ("Impact on scope", "Impact on schedule", "Impact on cost", "Impact on quality")


def add_policy_fields(fake: FakeJira) -> FakeJira:
    """The fields and the board member the shipped example policies (deploy/policies/) name.

    "Approval" (select), the four impacts and "Backout plan" (text), "Flagged", the risk
    register's fields, and dave in the change advisory board.
    """
    select = {"type": "option", "custom": "select"}
    fake.add_field("Approval", "customfield_10060", select)
    for number, name in enumerate((*IMPACTS, "Backout plan"), start=10061):
        fake.add_field(name, f"customfield_{number}")
    flagged = {"type": "array", "items": "option", "custom": "multicheckboxes"}
    fake.add_field("Flagged", "customfield_10021", flagged)
    fake.add_field("Risk score", "customfield_10070", {"type": "number", "custom": "float"})
    fake.add_field("Risk owner", "customfield_10071", {"type": "user", "custom": "userpicker"})
    fake.add_field("Risk response", "customfield_10072", select)
    fake.add_field("Likelihood", "customfield_10073", {"type": "number", "custom": "float"})
    fake.add_field("Impact", "customfield_10074", {"type": "number", "custom": "float"})
    fake.add_user("dave", groups=["change-advisory-board"], api_token="dave-token")
    return fake
