"""Curation forms: add, edit, archive, restore, merge; editors only; same-site posts only."""

from __future__ import annotations

import re

import pytest

from tests.webhooks.helpers import make_web_app
from webhooks.web.context import AccessRules

EDITOR = {"Authorization": "Bearer ed1tor"}
RULES = AccessRules(
    tokens=("read3r",),
    user_header="X-Forwarded-User",
    editor_tokens=("ed1tor",),
    editors=frozenset({"dana"}),
)


@pytest.fixture
def web(tmp_path, store_location):
    """On each engine: the lessons, their curation and the journal where HINDSIGHT_DB says."""
    return make_web_app(tmp_path, access=RULES, db=store_location)


def _lesson_id(services, words: str) -> str:
    return services.store.search(words, limit=1, mode="keyword")[0].id


def _csrf(client, path: str, headers: dict[str, str]) -> str:
    """Open the form like a browser: the page sets the cookie and carries the same token."""
    page = client.get(path, headers=headers)
    assert page.status_code == 200, page.get_data(as_text=True)
    return re.search(r'name="csrf" value="([^"]+)"', page.get_data(as_text=True)).group(1)


def _post(client, path, data, headers=EDITOR, form_page=None):
    token = _csrf(client, form_page or path, headers)
    return client.post(
        path, data={**data, "csrf": token}, headers={**headers, "Sec-Fetch-Site": "same-origin"}
    )


def test_add_a_lesson_to_an_existing_retrospective(web) -> None:
    app, services = web
    client = app.test_client()
    source = services.store.curation.retrospectives()[0].uri
    response = _post(
        client,
        "/lessons/new",
        {"source": source, "text": "Page the DBA before the migration.", "tags": "db, ops"},
    )
    assert response.status_code == 303
    page = client.get(response.headers["Location"], headers=EDITOR).get_data(as_text=True)
    assert "Page the DBA before the migration." in page
    assert "editor token" in page and "add" in page  # the history names who and what
    hits = services.store.search("DBA migration", limit=3, mode="keyword")
    assert hits[0].text == "Page the DBA before the migration."


def test_add_to_a_new_retrospective_and_a_bad_form_says_what_to_fix(web) -> None:
    app, services = web
    client = app.test_client()
    bad = _post(client, "/lessons/new", {"new_retrospective": "Q3 retro", "text": " "})
    assert bad.status_code == 400
    assert "needs its text" in bad.get_data(as_text=True)
    ok = _post(client, "/lessons/new", {"new_retrospective": "Q3 retro", "text": "Freeze Fridays."})
    assert ok.status_code == 303
    assert "Q3 retro" in {r.title for r in services.store.curation.retrospectives()}


def test_edit_records_who_when_before_and_after_on_the_lesson_page(web) -> None:
    app, services = web
    client = app.test_client()
    lesson_id = _lesson_id(services, "rollback")
    before = services.store.get(lesson_id).text
    headers = {"X-Forwarded-User": "dana"}
    response = _post(
        client,
        f"/lessons/{lesson_id}/edit",
        {
            "title": "Rollback rehearsal",
            "text": "Rehearse every rollback.",
            "kind": "lesson",
            "project": "pay",
            "tags": "",
            "revision": "0",
            "note": "shorter",
        },
        headers=headers,
    )
    assert response.status_code == 303
    page = client.get(f"/lessons/{lesson_id}", headers=headers).get_data(as_text=True)
    history = page.split('id="history"')[1]
    assert "dana" in history and "edit" in history and "shorter" in history
    assert before[:40] in history and "Rehearse every rollback." in history
    assert services.store.get(lesson_id).project == "PAY"


def test_a_stale_edit_is_a_409_with_what_to_do(web) -> None:
    app, services = web
    client = app.test_client()
    lesson_id = _lesson_id(services, "rollback")
    services.store.curation.edit(lesson_id, "bo", {"title": "Someone else's"})
    response = _post(
        client,
        f"/lessons/{lesson_id}/edit",
        {"title": "Mine", "text": "x", "kind": "lesson", "revision": "0"},
        form_page=f"/lessons/{lesson_id}",
    )
    assert response.status_code == 409
    assert "reload" in response.get_data(as_text=True)
    assert services.store.get(lesson_id).title == "Someone else's"


def test_archive_hides_from_search_keeps_the_page_and_restore_undoes_it(web) -> None:
    app, services = web
    client = app.test_client()
    lesson_id = _lesson_id(services, "rollback")
    page = f"/lessons/{lesson_id}"
    assert _post(client, f"{page}/archive", {}, form_page=page).status_code == 303
    assert lesson_id not in client.get("/lessons?q=rollback", headers=EDITOR).get_data(as_text=True)
    shown = client.get(page, headers=EDITOR).get_data(as_text=True)
    assert 'id="archived"' in shown and 'id="restore"' in shown
    assert _post(client, f"{page}/restore", {}, form_page=page).status_code == 303
    assert lesson_id in client.get("/lessons?q=rollback", headers=EDITOR).get_data(as_text=True)


def test_merge_keeps_one_moves_feedback_and_the_merged_page_says_where(web) -> None:
    app, services = web
    client = app.test_client()
    hits = services.store.search("rollback", limit=2, mode="keyword")
    duplicate, kept = hits[0].id, hits[1].id
    services.journal.record_feedback("PAY-9", duplicate, "helpful")
    merge_page = client.get(f"/lessons/{duplicate}/merge", headers=EDITOR).get_data(as_text=True)
    assert f'value="{kept}"' in merge_page  # offered as a candidate duplicate
    response = _post(client, f"/lessons/{duplicate}/merge", {"into": kept, "note": "same"})
    assert response.status_code == 303 and response.headers["Location"].endswith(kept)
    assert services.journal.tallies([kept])[kept].helpful == 1
    page = client.get(f"/lessons/{duplicate}", headers=EDITOR).get_data(as_text=True)
    assert 'id="merged"' in page and f"/lessons/{kept}" in page
    bad = _post(client, f"/lessons/{kept}/merge", {"into": "nope"})
    assert bad.status_code == 400 and "no lesson has id" in bad.get_data(as_text=True)


def test_a_reader_may_read_but_every_curation_form_is_refused_with_a_reason(web) -> None:
    app, services = web
    client = app.test_client()
    lesson_id = _lesson_id(services, "rollback")
    reader = {"X-Forwarded-User": "sam"}
    page = client.get(f"/lessons/{lesson_id}", headers=reader)
    assert page.status_code == 200 and 'id="edit"' not in page.get_data(as_text=True)
    for path in ("/lessons/new", f"/lessons/{lesson_id}/edit", f"/lessons/{lesson_id}/merge"):
        refused = client.get(path, headers=reader)
        assert refused.status_code == 403
        assert "sam may read but not edit" in refused.get_data(as_text=True)
    token = _csrf(client, f"/lessons/{lesson_id}", EDITOR)  # a valid session token, even so
    posted = client.post(
        f"/lessons/{lesson_id}/archive",
        data={"csrf": token},
        headers={**reader, "Sec-Fetch-Site": "same-origin"},
    )
    assert posted.status_code == 403 and "sam may read" in posted.get_data(as_text=True)
    token_reader = client.get("/lessons/new", headers={"Authorization": "Bearer read3r"})
    assert token_reader.status_code == 403
    assert "?token=&lt;editor token&gt;" in token_reader.get_data(as_text=True)
    assert services.store.curation.state(lesson_id).status == "active"


def test_editing_is_off_without_editor_settings(tmp_path) -> None:
    app, _ = make_web_app(tmp_path)
    refused = app.test_client().get("/lessons/new")
    assert refused.status_code == 403
    assert "HINDSIGHT_EDITOR_TOKEN" in refused.get_data(as_text=True)


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
    ],
)
def test_a_cross_site_post_is_refused_even_with_the_token(web, headers) -> None:
    app, services = web
    client = app.test_client()
    lesson_id = _lesson_id(services, "rollback")
    token = _csrf(client, f"/lessons/{lesson_id}", EDITOR)
    response = client.post(
        f"/lessons/{lesson_id}/archive", data={"csrf": token}, headers={**EDITOR, **headers}
    )
    assert response.status_code == 403
    assert "another" in response.get_data(as_text=True)
    assert services.store.curation.state(lesson_id).status == "active"


def test_chromiums_null_origin_under_no_referrer_is_judged_by_sec_fetch_site(web) -> None:
    app, services = web
    client = app.test_client()
    lesson_id = _lesson_id(services, "rollback")
    token = _csrf(client, f"/lessons/{lesson_id}", EDITOR)
    headers = {**EDITOR, "Sec-Fetch-Site": "same-origin", "Origin": "null"}
    response = client.post(f"/lessons/{lesson_id}/archive", data={"csrf": token}, headers=headers)
    assert response.status_code == 303


def test_a_post_without_the_session_token_is_refused(web) -> None:
    app, services = web
    client = app.test_client()
    lesson_id = _lesson_id(services, "rollback")
    _csrf(client, f"/lessons/{lesson_id}", EDITOR)  # the cookie is set ...
    for data in ({}, {"csrf": "forged"}):  # ... but the form does not carry it
        response = client.post(f"/lessons/{lesson_id}/archive", data=data, headers=EDITOR)
        assert response.status_code == 403 and "reload the page" in response.get_data(as_text=True)
    fresh = app.test_client()  # no cookie at all: a token alone proves nothing
    response = fresh.post(f"/lessons/{lesson_id}/archive", data={"csrf": "x"}, headers=EDITOR)
    assert response.status_code == 403
    assert services.store.curation.state(lesson_id).status == "active"


def test_the_csrf_cookie_is_strict_and_http_only(web) -> None:
    app, services = web
    response = app.test_client().get(f"/lessons/{_lesson_id(services, 'rollback')}", headers=EDITOR)
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if "csrf" in c)
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie


def test_an_editor_token_in_the_url_becomes_a_cookie_and_then_edits(web) -> None:
    app, services = web
    client = app.test_client()
    assert client.get("/lessons?token=ed1tor").status_code == 302
    lesson_id = _lesson_id(services, "rollback")
    response = _post(client, f"/lessons/{lesson_id}/archive", {}, {}, f"/lessons/{lesson_id}")
    assert response.status_code == 303
    assert services.store.curation.history(lesson_id)[0].actor == "editor token"
