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
