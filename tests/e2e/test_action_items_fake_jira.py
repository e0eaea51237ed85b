"""End to end: an action item read from a retrospective becomes one Jira issue in the fake,
however often the delivery or the button is repeated, and closing the issue marks it done.

Fake Jira -> signed webhooks -> Hindsight app (capture; the status sync) -> real adapter -> fake
Jira; "Create in Jira" is pressed through the web app's own form, as an editor.
"""

from __future__ import annotations

import re

import pytest

from hindsight.config import load_settings
from hindsight.wiring import Config, build_runtime, install_lessons
from hindsight.wsgi import create_app
from plugin.lessons.config import LessonsSettings
from plugin.lessons.services import build_services
from testkit.fakejira.fixtures import adapter_for
from testkit.kb import HashingEmbedder
from tests.e2e.test_lessons_fake_jira import SECRET, Site, _sign
from webhooks.queue import build_delivery_queue, build_huey

EDITOR = {"Authorization": "Bearer e2e-editor"}
RETRO_MD = """# Release 4.3 retro

## What went wrong

- The rollback script was never rehearsed.

## Action items

- [ ] Add a rollback drill to the release checklist (owner: Dana, due 2025-10-15)
"""


@pytest.fixture
def site(fake_jira_factory, tmp_path) -> Site:
    fake = fake_jira_factory("cloud")
    settings = load_settings(
        environ={},
        overrides={
            "db": tmp_path / "hindsight.db",
            "webhook_secret": [SECRET],
            "public_url": "http://hindsight.test",
            "jira_url": fake.base_url,
            "jira_email": fake.service_account.email,
            "jira_api_token": fake.service_account.api_token,
            "editor_token": ["e2e-editor"],
        },
    )
    config = Config(settings)
    services = build_services(config.lessons, embedder=HashingEmbedder(), policy=LessonsSettings())
    runtime = build_runtime(
        config, jira=adapter_for(fake), installers=[install_lessons], lessons=services
    )
    queue = build_delivery_queue(runtime, huey=build_huey("memory://", immediate=True))
    client = create_app(runtime=runtime, queue=queue, test_config={"TESTING": True}).test_client()

    def post(webhook) -> None:
        response = client.post("/webhooks/jira", data=webhook.raw, headers=webhook.headers)
        assert response.status_code in (200, 202), response.get_data(as_text=True)

    fake.send_webhooks_to(post, secret=SECRET)
    fake.clear_webhooks()
    return Site(fake, runtime, services, client)


def press_create_in_jira(site: Site, item_id: str) -> str:
    page = site.client.get(f"/actions/{item_id}", headers=EDITOR).get_data(as_text=True)
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    response = site.client.post(
        f"/actions/{item_id}/jira",
        data={"csrf": token},
        headers={**EDITOR, "Sec-Fetch-Site": "same-origin"},
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    return response.headers["Location"]


def action_issues(site: Site, item_id: str) -> list:
    label = f"hindsight-action-{item_id.lower()}"
    return [i for i in site.fake.issues.values() if label in i.fields.get("labels", [])]


def test_a_markdown_action_item_becomes_one_issue_and_closing_it_marks_it_done(
    site: Site, tmp_path
) -> None:
    retro = tmp_path / "retro.md"
    retro.write_text(RETRO_MD, encoding="utf-8")
    store = site.services.store
    for _ in range(2):  # ingesting the same retrospective again adds no item
        assert store.ingest_paths([retro], project="CHG").errors == []
    (item,) = store.actions.list()
    assert (item.owner, item.due, item.status, item.project) == (
        "Dana",
        "2025-10-15",
        "open",
        "CHG",
    )

    first = press_create_in_jira(site, item.id)
    assert "message=created" in first
    for _ in range(3):
        assert "message=already" in press_create_in_jira(site, item.id)
    (issue,) = action_issues(site, item.id)
    assert store.actions.get(item.id).jira_key == issue.key
    assert f"http://hindsight.test/actions/{item.id}" in str(issue.fields["description"])
    assert issue.fields["summary"] == "Add a rollback drill to the release checklist"

    site.deliver()  # the issue's own creation comes back as a webhook: nothing changes
    assert store.actions.get(item.id).status == "open"
    site.fake.move(issue.key, "In Progress", as_user="bob")
    site.deliver()
    assert store.actions.get(item.id).status == "open"  # not done yet
    site.fake.move(issue.key, "Done", fields={"resolution": {"name": "Done"}}, as_user="bob")
    site.deliver()
    assert store.actions.get(item.id).status == "done"
    assert len(action_issues(site, item.id)) == 1


def test_an_action_item_captured_from_a_jira_retrospective_is_created_once_despite_replays(
    site: Site,
) -> None:
    key = site.fake.add_issue(
        "CHG",
        "Task",
        "Sprint 12 retrospective",
        status="In Progress",
        labels=["retrospective"],
        description="h2. Action items\n* Book the load-test environment early, owner: Bo",
    )
    site.fake.move(key, "Done", fields={"resolution": {"name": "Done"}}, as_user="bob")
    site.deliver()
    store = site.services.store
    (item,) = store.actions.list()
    assert (item.owner, item.project) == ("Bo", "CHG")

    deliveries = site.runtime.deliveries.list(limit=50)
    assert press_create_in_jira(site, item.id)
    for number, delivery in enumerate(deliveries):  # every delivery again, under new ids
        site.client.post(
            "/webhooks/jira",
            data=delivery.body,
            headers={
                "X-Hub-Signature": _sign(delivery.body),
                "X-Atlassian-Webhook-Identifier": f"replay-{number}",
            },
        )
        press_create_in_jira(site, item.id)
    assert len(store.actions.list()) == 1
    assert len(action_issues(site, item.id)) == 1
