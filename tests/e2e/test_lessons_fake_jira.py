"""End to end: fake Jira -> signed webhook -> Hindsight app -> real adapter -> fake Jira, for
lesson suggestions, feedback, project seeding and retrospective capture, including idempotency
and the loop Hindsight's own comments would cause.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import unescape

import pytest
from flask.testing import FlaskClient

from hindsight.config import load_settings
from hindsight.wiring import Config, Runtime, build_runtime, install_lessons
from hindsight.wsgi import create_app
from kb.records import retrospective_id
from plugin.jira.port import COMMENT_PROPERTY
from plugin.jira.signature import sign
from plugin.lessons.comment import MARKER
from plugin.lessons.config import LessonsSettings, SeedSettings
from plugin.lessons.services import LessonsServices, build_services
from testkit.fakejira.fake import FakeJira
from testkit.fakejira.fixtures import adapter_for
from testkit.kb import HashingEmbedder
from tests.webhooks.helpers import RETRO_WITH_SCRIPT
from webhooks.queue import build_delivery_queue, build_huey

SECRET = "e2e-lessons-secret"
FEEDBACK_LINK = re.compile(r"\|(https?://[^\]|]+/lessons/feedback\?t=[^\]]+)\]")


@dataclass
class Site:
    fake: FakeJira
    runtime: Runtime
    services: LessonsServices
    client: FlaskClient

    def deliver(self) -> None:
        self.fake.deliver_webhooks()

    def hindsight_comments(self, key: str) -> list:
        """Comments carrying the marker in their entity property (Cloud drops it from bodies)."""
        return [
            c
            for c in self.fake.comments(key)
            if MARKER in c.properties.get(COMMENT_PROPERTY, {}).get("markers", [])
        ]

    def bot_writes(self) -> list:
        bot = self.fake.service_account.name
        return [r for r in self.fake.requests if r.method in {"POST", "PUT"} and r.user == bot]


@pytest.fixture
def site(fake_jira_factory, tmp_path, store_location: str) -> Site:
    """On each engine (store_location): every store, the lessons too, where HINDSIGHT_DB says."""
    fake = fake_jira_factory("cloud")
    settings = load_settings(
        environ={},
        overrides={
            "db": store_location,
            "queue": f"sqlite:///{tmp_path}/q.db",
            "webhook_secret": [SECRET],
            "public_url": "http://hindsight.test",
            "jira_url": fake.base_url,
            "jira_email": fake.service_account.email,
            "jira_api_token": fake.service_account.api_token,
        },
    )
    config = Config(settings)
    policy = LessonsSettings(threshold=0.3, limit=3, seed=SeedSettings(threshold=0.1))
    services = build_services(config.lessons, embedder=HashingEmbedder(), policy=policy)
    assert services.store is not None
    services.store.ingest_source("retros/pay-4.2.md", RETRO_WITH_SCRIPT)
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


def new_migration_issue(site: Site) -> str:
    key = site.fake.add_issue(
        "CHG",
        "Task",
        "Schema migration of the orders table",
        description="We migrate the orders table schema; plan the rollback script.",
    )
    site.deliver()
    return key


def test_a_new_issue_gets_one_suggestion_comment_and_no_loop(site: Site) -> None:
    key = new_migration_issue(site)
    (comment,) = site.hindsight_comments(key)
    assert "http://hindsight.test/lessons/" in comment.body
    assert len(FEEDBACK_LINK.findall(comment.body)) >= 2
    # Hindsight's own comment came back as a comment_created webhook: skipped, no second write.
    assert len(site.bot_writes()) == 1


def test_the_same_delivery_twice_and_a_small_edit_write_nothing_new(site: Site) -> None:
    key = new_migration_issue(site)
    site.fake.edit(key, {"summary": "Schema migration of the orders table."})
    site.deliver()
    delivery = site.runtime.deliveries.list(limit=50)[-1]
    site.client.post(
        "/webhooks/jira",
        data=delivery.body,
        headers={"X-Hub-Signature": _sign(delivery.body), "X-Atlassian-Webhook-Identifier": "x1"},
    )  # a replay under a new identifier: the handler itself must see nothing to do
    assert len(site.hindsight_comments(key)) == 1
    assert len(site.bot_writes()) == 1


def test_feedback_dismisses_a_lesson_and_a_rewrite_edits_the_one_comment(site: Site) -> None:
    key = new_migration_issue(site)
    (comment,) = site.hindsight_comments(key)
    links = [unescape(url) for url in FEEDBACK_LINK.findall(comment.body)]
    dismiss = next(url for url in links if "not" in _answer(site, url))
    token = dismiss.split("t=", 1)[1]
    page = site.client.post("/lessons/feedback", data={"t": token})
    assert page.status_code == 200
    dismissed_lesson = site.services.signer.verify(token).lesson_id
    assert site.services.journal.dismissed(key) == {dismissed_lesson}
    site.fake.edit(
        key,
        {"description": "The rollback of the schema migration must be rehearsed on staging."},
    )
    site.deliver()
    (edited,) = site.hindsight_comments(key)
    assert edited.id == comment.id
    assert dismissed_lesson not in edited.body
    assert [r.method for r in site.bot_writes()] == ["POST", "PUT"]


def test_a_new_project_is_seeded_once(site: Site) -> None:
    site.fake.add_project("MIG", "Database migration and rollback", category="Infrastructure")
    site.deliver()
    seeded = [i for i in site.fake.issues.values() if i.project.key == "MIG"]
    assert len(seeded) == 1
    assert seeded[0].fields["summary"] == "Lessons to apply"
    assert "http://hindsight.test/lessons/" in seeded[0].fields["description"]
    outcome = site.services.seeder.seed(site.runtime.jira, "MIG")
    assert outcome.action == "already-seeded"
    assert len([i for i in site.fake.issues.values() if i.project.key == "MIG"]) == 1


def test_a_resolved_retrospective_is_captured_and_later_edits_update_it(site: Site) -> None:
    key = site.fake.add_issue(
        "CHG",
        "Task",
        "Sprint 12 retrospective",
        status="In Progress",
        labels=["retrospective"],
        description="h2. Lessons learned\n* Book the load-test environment two weeks ahead.",
    )
    site.fake.comment(key, "Also: pair on every production database change.", as_user="bob")
    site.deliver()
    source = f"{site.fake.base_url}/browse/{key}"
    assert site.services.store.search("load-test environment", limit=5)[0].source != source
    site.fake.move(key, "Done", fields={"resolution": {"name": "Done"}}, as_user="bob")
    site.deliver()
    texts = _texts_from(site, source)
    assert any("load-test environment" in t for t in texts)
    assert any("pair on every production database change" in t for t in texts)
    site.fake.edit(key, {"description": "h2. Lessons learned\n* Freeze the schema a week early."})
    site.deliver()
    texts = _texts_from(site, source)
    assert any("Freeze the schema" in t for t in texts)
    assert not any("load-test environment" in t for t in texts)


def _texts_from(site: Site, source: str) -> list[str]:
    _, lessons = site.services.store.retrospective(retrospective_id(source))
    return [lesson.text for lesson in lessons]


def _answer(site: Site, url: str) -> str:
    return site.services.signer.verify(url.split("t=", 1)[1]).answer


def _sign(body: str | bytes) -> str:
    return sign(body.encode() if isinstance(body, str) else body, SECRET)
