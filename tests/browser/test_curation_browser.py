"""Headless Chromium curates lessons and action items as an editor would, without JavaScript:
add, edit, archive and merge a lesson; add an action item, create it in the fake Jira, close the
issue there and see the item done; a reader is refused and a cross-site post is refused.

Screenshots go to bench/out/ (not committed). Skipped when chromium or playwright is absent.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from plugin.events import JiraEvent
from plugin.lessons.actions import ActionStatusSync
from tests.browser.test_lessons_browser import page  # noqa: F401 - the Chromium page fixture
from tests.webhooks.helpers import make_web_app
from webhooks.web.context import AccessRules

pytestmark = pytest.mark.browser
OUT = Path(__file__).resolve().parents[2] / "bench" / "out"
RULES = AccessRules(tokens=("read3r",), editor_tokens=("ed1tor",))


@pytest.fixture
def site(tmp_path, fake_jira, jira_adapter) -> Iterator[tuple[str, object, object]]:
    from werkzeug.serving import make_server

    app, services = make_web_app(tmp_path, access=RULES, jira=jira_adapter)
    sync = ActionStatusSync(services.store.actions, lambda event: jira_adapter)
    fake_jira.send_webhooks_to(
        lambda hook: (
            sync.on_issue_updated(JiraEvent.from_payload(json.loads(hook.raw)), "b")
            if json.loads(hook.raw).get("webhookEvent") == "jira:issue_updated"
            else None
        )
    )
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.port}", services, fake_jira
    httpd.shutdown()


def shoot(page, name: str) -> None:  # noqa: F811 - `page` is the fixture's value here
    OUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUT / f"curation-{name}.png"), full_page=True)


def test_an_editor_adds_edits_archives_and_merges_lessons(site, page) -> None:  # noqa: F811
    base, services, _ = site
    page.goto(f"{base}/lessons?token=ed1tor")  # the editor token becomes a cookie
    first = services.store.search("rollback", limit=2, mode="keyword")
    page.goto(f"{base}/lessons/{first[0].id}")
    page.click("#add")
    page.fill("#text", "Page the DBA before every schema migration.")
    page.fill("#title", "Page the DBA")
    page.fill("#tags", "database, on-call")
    shoot(page, "add-form")
    page.click("#save")
    page.wait_for_selector("article.lesson-body")
    assert "Page the DBA before every schema migration." in page.inner_text("article.lesson-body")
    added = page.url.rsplit("/", 1)[1]

    page.click("#edit")
    page.fill("#text", "Page the DBA and the on-call before every schema migration.")
    page.fill("#note", "the on-call too")
    page.click("#save")
    page.wait_for_selector("#history")
    history = page.inner_text("#history")
    assert "edit" in history and "the on-call too" in history and "editor token" in history
    shoot(page, "edited")

    page.click("#archive")
    page.wait_for_selector("#archived")
    assert added not in {h.id for h in services.store.search("DBA on-call migration", limit=10)}
    shoot(page, "archived")
    page.click("#restore")
    page.wait_for_selector("#archive")

    page.goto(f"{base}/lessons/{first[1].id}/merge")
    page.check(f"input[type=radio][value='{first[0].id}']")
    page.fill("#note", "same lesson")
    page.click("button#merge")
    page.wait_for_selector("#history")
    assert page.url.endswith(first[0].id)
    page.goto(f"{base}/lessons/{first[1].id}")
    assert first[0].id in page.inner_text("#merged")
    shoot(page, "merged")


def test_an_action_item_goes_to_jira_once_and_closing_the_issue_marks_it_done(
    site,
    page,  # noqa: F811
) -> None:
    base, services, fake = site
    page.goto(f"{base}/lessons?token=ed1tor")
    lesson = services.store.search("rollback", limit=1, mode="keyword")[0]
    page.goto(f"{base}/lessons/{lesson.id}")
    page.fill("#action-text", "Add a rollback drill to the release checklist")
    page.fill("#action-owner", "Dana")
    page.fill("#action-due", "2000-01-31")
    page.fill("#action-project", "CHG")
    page.click("#add-action-submit")
    page.wait_for_selector("#create-in-jira")
    item_id = page.url.split("?")[0].rsplit("/", 1)[1]
    page.click("#create-in-jira")
    page.wait_for_selector("#message")
    key = services.store.actions.get(item_id).jira_key
    assert key and key in page.inner_text("#jira")
    assert page.locator("#create-in-jira").count() == 0  # nothing to press a second time
    page.go_back()  # the page from before, its button still there: pressed again ...
    page.click("#create-in-jira")
    page.wait_for_selector("#message")
    assert "Already in Jira" in page.inner_text("#message")  # ... creates nothing new
    label = f"hindsight-action-{item_id.lower()}"
    assert len([i for i in fake.issues.values() if label in i.fields.get("labels", [])]) == 1
    shoot(page, "action-in-jira")

    fake.move(key, "In Progress", as_user="bob")
    fake.move(key, "Done", fields={"resolution": {"name": "Done"}}, as_user="bob")
    fake.deliver_webhooks()
    page.goto(f"{base}/actions/{item_id}")
    assert page.inner_text("#status").startswith("done")
    shoot(page, "action-done")
    page.goto(f"{base}/dashboard")
    shoot(page, "dashboard")


def test_a_reader_is_refused_and_a_cross_site_post_is_refused(site, page) -> None:  # noqa: F811
    base, services, _ = site
    lesson = services.store.search("rollback", limit=1, mode="keyword")[0]
    page.goto(f"{base}/lessons?token=read3r")
    response = page.goto(f"{base}/lessons/{lesson.id}/edit")
    assert response.status == 403 and "editing needs an editor" in page.inner_text("body")
    shoot(page, "reader-refused")

    page.goto(f"{base}/lessons?token=ed1tor")  # an editor's session, lured to another page
    page.goto("about:blank")
    page.set_content(
        f'<form method="post" action="{base}/lessons/{lesson.id}/archive">'
        '<input name="csrf" value="guess"><button id="go">win a prize</button></form>'
    )
    with page.expect_navigation() as navigation:
        page.click("#go")
    # Refused twice over: the SameSite cookies stay home (401), and were the editor signed in
    # by a proxy instead, Sec-Fetch-Site: cross-site is refused (403; see test_curation_pages).
    assert navigation.value.status in (401, 403)
    assert services.store.curation.state(lesson.id).status == "active"
    shoot(page, "cross-site-refused")
