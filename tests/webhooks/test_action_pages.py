"""Action items on the web: add, status, list, overdue panel, "Create in Jira" (once)."""

from __future__ import annotations

import re

import pytest

from plugin.events import JiraEvent
from plugin.jira.port import IssueType, Project
from plugin.jira.report_only import ReportOnlyJira
from plugin.lessons.actions import ActionStatusSync
from testkit.memory_jira import DONE, TODO, MemoryJira
from tests.webhooks.helpers import issue_updated, make_web_app
from webhooks.web.context import AccessRules

EDITOR = {"Authorization": "Bearer ed1tor"}
RULES = AccessRules(tokens=("read3r",), editor_tokens=("ed1tor",))
TASK = IssueType("10002", "Task")


def memory_jira() -> MemoryJira:
    return MemoryJira(projects={"PAY": Project("PAY", "10000", "Payments", issue_types=(TASK,))})


@pytest.fixture
def jira() -> MemoryJira:
    return memory_jira()


@pytest.fixture
def web(tmp_path, jira, store_location):
    """On each engine: the action items where HINDSIGHT_DB says."""
    return make_web_app(tmp_path, access=RULES, jira=jira, db=store_location)


def _post(client, path, data, *, form_page, headers=EDITOR):
    page = client.get(form_page, headers=headers)
    assert page.status_code == 200, page.get_data(as_text=True)
    token = re.search(r'name="csrf" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    return client.post(
        path, data={**data, "csrf": token}, headers={**headers, "Sec-Fetch-Site": "same-origin"}
    )


def _add(client, services, **fields):
    lesson = services.store.search("rollback", limit=1, mode="keyword")[0]
    data = {"text": "Schedule a rollback drill", "owner": "Dana", "due": "2000-01-31"}
    data |= {"lesson_id": lesson.id, "project": "PAY"} | fields
    response = _post(client, "/actions/new", data, form_page=f"/lessons/{lesson.id}")
    assert response.status_code == 303, response.get_data(as_text=True)
    return response.headers["Location"].split("?")[0].rsplit("/", 1)[1], lesson


def test_add_from_a_lesson_shows_on_the_lesson_the_list_and_the_overdue_panel(web) -> None:
    app, services = web
    client = app.test_client()
    item_id, lesson = _add(client, services)
    item = services.store.actions.get(item_id)
    assert (item.owner, item.due, item.project, item.lesson_id) == (
        "Dana",
        "2000-01-31",
        "PAY",
        lesson.id,
    )
    assert "Schedule a rollback drill" in client.get(
        f"/lessons/{lesson.id}", headers=EDITOR
    ).get_data(as_text=True)
    listed = client.get("/actions?overdue=1", headers=EDITOR).get_data(as_text=True)
    assert "Schedule a rollback drill" in listed and "overdue" in listed
    panel = (
        client.get("/dashboard", headers=EDITOR)
        .get_data(as_text=True)
        .split('id="overdue-actions"')[1]
    )
    assert "Schedule a rollback drill" in panel and "2000-01-31" in panel


def test_a_bad_item_is_a_400_saying_what_to_fix(web) -> None:
    app, services = web
    lesson = services.store.search("rollback", limit=1, mode="keyword")[0]
    response = _post(
        app.test_client(),
        "/actions/new",
        {"text": "x", "due": "soon"},
        form_page=f"/lessons/{lesson.id}",
    )
    assert response.status_code == 400 and "YYYY-MM-DD" in response.get_data(as_text=True)


def test_status_form_and_a_reader_is_refused(web) -> None:
    app, services = web
    client = app.test_client()
    item_id, _ = _add(client, services)
    page = f"/actions/{item_id}"
    assert (
        _post(client, f"{page}/status", {"status": "in_progress"}, form_page=page).status_code
        == 303
    )
    assert services.store.actions.get(item_id).status == "in_progress"
    reader = {"Authorization": "Bearer read3r"}
    shown = client.get(page, headers=reader)
    assert shown.status_code == 200 and 'id="create-in-jira"' not in shown.get_data(as_text=True)
    token = re.search(
        r'name="csrf" value="([^"]+)"', client.get(page, headers=EDITOR).get_data(as_text=True)
    ).group(1)  # a valid session token does not make a reader an editor
    refused = client.post(
        f"{page}/jira", data={"csrf": token}, headers={**reader, "Sec-Fetch-Site": "same-origin"}
    )
    assert refused.status_code == 403 and "editor token" in refused.get_data(as_text=True)
    assert services.store.actions.get(item_id).jira_key is None


def test_create_in_jira_makes_one_issue_however_often_it_is_pressed(web, jira) -> None:
    app, services = web
    client = app.test_client()
    item_id, _ = _add(client, services)
    page = f"/actions/{item_id}"
    first = _post(client, f"{page}/jira", {}, form_page=page)
    assert first.status_code == 303 and "message=created" in first.headers["Location"]
    for _ in range(3):
        again = _post(client, f"{page}/jira", {}, form_page=page)
        assert "message=already" in again.headers["Location"]
    creates = [w for w in jira.writes if w[0] == "create_issue"]
    assert len(creates) == 1
    key = creates[0][1]
    issue = jira.get_issue(key)
    assert f"hindsight-action-{item_id.lower()}" in issue.labels
    assert f"http://hindsight.test/actions/{item_id}" in issue.description  # the link back
    assert services.store.actions.get(item_id).jira_key == key
    assert key in client.get(page, headers=EDITOR).get_data(as_text=True)


def test_a_retry_after_a_lost_answer_finds_the_issue_again(web, jira) -> None:
    app, services = web
    client = app.test_client()
    item_id, _ = _add(client, services)
    claimed = services.store.actions.claim_jira_push(item_id)  # a push that died after creating
    jira.create_issue("PAY", "Task", "x", fields={"labels": [claimed.jira_request]})
    services.store.actions.release_jira_push(item_id)
    page = f"/actions/{item_id}"
    response = _post(client, f"{page}/jira", {}, form_page=page)
    assert "message=found" in response.headers["Location"]
    assert len([w for w in jira.writes if w[0] == "create_issue"]) == 1


def test_a_jira_refusal_is_shown_and_the_button_works_again(web, jira) -> None:
    app, services = web
    client = app.test_client()
    item_id, _ = _add(client, services, project="OPS")  # OPS has no Task type in this Jira
    page = f"/actions/{item_id}"
    response = _post(client, f"{page}/jira", {}, form_page=page)
    shown = client.get(response.headers["Location"], headers=EDITOR).get_data(as_text=True)
    assert "Jira refused" in shown and "no issue type" in shown
    services.store.actions.claim_jira_push(item_id)  # the lease was released


def test_report_only_records_what_it_would_create(tmp_path) -> None:
    app, services = make_web_app(tmp_path, access=RULES, jira=ReportOnlyJira(), report_only=True)
    client = app.test_client()
    item_id, _ = _add(client, services)
    page = f"/actions/{item_id}"
    response = _post(client, f"{page}/jira", {}, form_page=page)
    assert "message=planned" in response.headers["Location"]
    item = services.store.actions.get(item_id)
    assert item.jira_key is None and '"project": "PAY"' in item.jira_plan
    assert 'id="jira-plan"' in client.get(page, headers=EDITOR).get_data(as_text=True)


def test_the_issue_webhook_keeps_the_item_in_step(tmp_path) -> None:
    jira = memory_jira()
    _, services = make_web_app(tmp_path, jira=jira)
    actions = services.store.actions
    item = actions.add("dana", text="Drill", project="PAY")
    key = jira.create_issue("PAY", "Task", "Drill").key
    actions.record_jira_issue(item.id, key)
    sync = ActionStatusSync(actions, lambda event: jira)
    jira.move(key, DONE)
    event = JiraEvent.from_payload(issue_updated(key, to_status=DONE.id))
    assert sync.on_issue_updated(event, "d1").outcome == "acted"
    assert actions.get(item.id).status == "done"
    assert sync.on_issue_updated(event, "d1").outcome == "no-op"  # the replay changes nothing
    jira.move(key, TODO)
    reopened = JiraEvent.from_payload(issue_updated(key, from_status=DONE.id, to_status=TODO.id))
    assert sync.on_issue_updated(reopened, "d2").outcome == "acted"
    assert actions.get(item.id).status == "open"
    other = JiraEvent.from_payload(issue_updated("PAY-999"))
    assert sync.on_issue_updated(other, "d3").outcome == "skipped"


def test_the_list_counts_every_match_and_pages_through_them(web) -> None:
    """The list stopped at 500 items and called that the count. Now it says how many match,
    shows 100 a page, the most pressing first, and pages with the filters kept."""
    from webhooks.web.actions import PAGE_ITEMS

    app, services = web
    actions = services.store.actions
    for n in range(PAGE_ITEMS + 5):
        actions.add("dana", text=f"Drill {n:03d}", due=f"2030-01-{n % 28 + 1:02d}", project="PAY")
    actions.add("dana", text="Elsewhere", project="OPS")
    client = app.test_client()

    first = client.get("/actions?project=PAY", headers=EDITOR).get_data(as_text=True)
    assert f"{PAGE_ITEMS + 5} action items match; showing 1–{PAGE_ITEMS}" in first
    assert first.count('href="/actions/A') == PAGE_ITEMS and "Elsewhere" not in first
    following = re.search(r'href="([^"]+)">Next page', first).group(1).replace("&amp;", "&")
    assert "project=PAY" in following and "page=2" in following

    second = client.get(following, headers=EDITOR).get_data(as_text=True)
    assert f"showing {PAGE_ITEMS + 1}–{PAGE_ITEMS + 5}" in second and "Next page" not in second
    assert second.count('href="/actions/A') == 5 and "Previous page" in second
    shown = set(re.findall(r"Drill \d{3}", first)) | set(re.findall(r"Drill \d{3}", second))
    assert len(shown) == PAGE_ITEMS + 5  # every item on exactly one page

    beyond = client.get("/actions?project=PAY&page=9", headers=EDITOR).get_data(as_text=True)
    assert "No action item on this page" in beyond and "go to the first page" in beyond
    assert client.get("/actions?page=0", headers=EDITOR).status_code == 400
    everything = client.get("/actions?status=all", headers=EDITOR).get_data(as_text=True)
    assert f"{PAGE_ITEMS + 6} action items match" in everything
