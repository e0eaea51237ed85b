"""Create and edit screens: the fake refuses what Jira refuses, the adapter reads create meta
(per project and issue type, paged, cached) and edit meta, in both flavours."""

from __future__ import annotations

import pytest

from plugin.jira.adapter import JiraAdapter
from plugin.jira.errors import JiraApiError
from testkit.fakejira import FakeJira
from testkit.fakejira.fixtures import adapter_for
from testkit.fakejira.screens import NOT_ON_SCREEN
from testkit.fakejira.workflows import SUBTASK_TYPE

FLAGGED = "customfield_10021"


@pytest.fixture(params=["cloud", "server"])
def site(request, fake_jira_factory) -> tuple[FakeJira, JiraAdapter]:
    fake = fake_jira_factory(request.param)
    fake.add_field("Flagged", FLAGGED, {"type": "array", "items": "option"})
    return fake, adapter_for(fake)


def _meta_requests(fake: FakeJira) -> list[str]:
    return [r.path for r in fake.requests if "createmeta" in r.path]


def test_create_screen_lists_the_sub_task_screen_and_is_read_once(site) -> None:
    fake, jira = site
    fake.screens.hide("CHG", SUBTASK_TYPE.name, "duedate", "assignee", screen="create")

    subtask = jira.subtask_type("CHG")
    screen = jira.create_screen("CHG", subtask.id)
    again = jira.create_screen("CHG", subtask.id)

    assert (subtask.id, subtask.subtask) == (SUBTASK_TYPE.id, True)
    assert {"summary", "description", "parent", FLAGGED} <= set(screen)
    assert "duedate" not in screen and "assignee" not in screen
    assert again == screen
    assert _meta_requests(fake) == [f"/rest/api/2/issue/createmeta/CHG/issuetypes/{subtask.id}"]
    # other issue types have their own screens
    assert "duedate" in jira.create_screen("CHG", "10100")


def test_create_screen_follows_pages(site) -> None:
    fake, jira = site
    for number in range(130):
        fake.add_field(f"Extra {number}", f"customfield_{20000 + number}")

    screen = jira.create_screen("CHG", "10100")

    assert {f"customfield_{20000 + n}" for n in range(130)} <= set(screen)
    assert len(_meta_requests(fake)) == 2  # 100 fields a page


def test_permissions_narrow_the_screens_as_in_jira(site) -> None:
    fake, jira = site
    bot = fake.service_account.name
    fake.permissions.revoke(bot, "ASSIGN_ISSUES", project="CHG")
    fake.permissions.revoke(bot, "SCHEDULE_ISSUES", project="CHG")
    key = fake.add_issue("CHG", "Change", "Upgrade")

    screen = jira.create_screen("CHG", "10100")
    assert "assignee" not in screen and "duedate" not in screen
    assert "labels" in jira.edit_screen(key)

    fake.permissions.revoke(bot, "EDIT_ISSUES", project="CHG")
    assert jira.edit_screen(key) == {}


def test_edit_screen_lacks_a_hidden_field_and_jira_refuses_to_set_it(site) -> None:
    fake, jira = site
    fake.screens.hide("CHG", "Change", FLAGGED, screen="edit")
    key = fake.add_issue("CHG", "Change", "Upgrade")

    screen = jira.edit_screen(key)
    assert FLAGGED not in screen and "labels" in screen
    with pytest.raises(JiraApiError) as refused:
        jira.set_fields(key, {FLAGGED: [{"value": "Impediment"}]})
    assert refused.value.status == 400
    assert NOT_ON_SCREEN.format(FLAGGED) in str(refused.value)
    jira.add_labels(key, ["fine"])  # the rest of the edit screen still works
    assert fake.issue(key).fields["labels"] == ["fine"]


def test_a_create_naming_a_field_off_the_create_screen_is_refused_whole(site) -> None:
    fake, jira = site
    fake.screens.hide("CHG", SUBTASK_TYPE.name, "duedate", screen="create")
    parent = fake.add_issue("CHG", "Change", "Upgrade")

    with pytest.raises(JiraApiError) as refused:
        jira.create_subtask(parent, "Review", fields={"duedate": "2030-01-01"})
    assert refused.value.status == 400
    assert "Field 'duedate' cannot be set. It is not on the appropriate screen" in str(
        refused.value
    )
    assert fake.issue(parent).subtasks == []
    created = jira.create_subtask(parent, "Review")
    assert fake.issue(parent).subtasks == [created.key]
