"""The lessons pages: search, lesson (sanitised), source, audit, dashboard, feedback, access."""

from __future__ import annotations

import re
from datetime import date

import pytest

from kb.records import retrospective_id
from testkit.audit import FakeAudit
from tests.webhooks.helpers import make_web_app
from webhooks.web.audit import AuditRow, OutcomeCount
from webhooks.web.context import AccessRules


@pytest.fixture
def web(tmp_path, store_location):
    """On each engine: the lessons and the journal where HINDSIGHT_DB says."""
    audit = FakeAudit(
        rows=[
            AuditRow(
                "2026-03-01T10:00:00",
                "jira:issue_updated",
                "PAY-1",
                "PAY",
                "ann",
                "normal-change",
                "fail",
                ("approval is missing",),
                ("reverted to In Review",),
            ),
        ],
        counts=[OutcomeCount(date.today().isoformat(), "PAY", "normal-change", "fail", 2)],
    )
    return make_web_app(tmp_path, audit=audit, db=store_location)


def lesson_ids(services, text: str) -> str:
    return next(h.id for h in services.store.search(text, limit=5) if text in h.text)


def test_search_highlights_matches_and_explains_why(web) -> None:
    app, _ = web
    page = app.test_client().get("/lessons?q=rollback").get_data(as_text=True)
    assert "<mark>rollback</mark>" in page
    assert "Why this result" in page and "keyword ranking placed it #" in page


def test_search_filters_by_kind(web) -> None:
    app, _ = web
    page = app.test_client().get("/lessons?q=rollback&kind=went_wrong").get_data(as_text=True)
    assert "Nobody had rehearsed" in page
    assert "Keep the <mark>rollback</mark> script" not in page


def test_a_bad_filter_is_explained_not_crashed(web) -> None:
    app, _ = web
    response = app.test_client().get("/lessons?q=rollback&since=yesterday-ish")
    assert response.status_code == 400  # the form again, with what to fix
    page = response.get_data(as_text=True)
    assert 'class="error"' in page and "YYYY-MM-DD" in page and 'name="q"' in page


def test_lesson_page_renders_markdown_without_scripts_or_javascript_links(web) -> None:
    app, services = web
    lesson_id = lesson_ids(services, "locked the orders table")
    response = app.test_client().get(f"/lessons/{lesson_id}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "locked the orders table" in page
    assert "<script" not in page.lower()
    assert "__pwned" not in page
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp
    runbook = app.test_client().get(f"/lessons/{lesson_ids(services, 'runbook')}")
    assert "javascript:" not in runbook.get_data(as_text=True)


def test_unknown_lesson_is_404(web) -> None:
    app, _ = web
    assert app.test_client().get("/lessons/L-nope").status_code == 404


def test_retrospective_page_lists_its_lessons_by_kind(web) -> None:
    app, _ = web
    retro = retrospective_id("retros/pay-4.2.md")
    page = app.test_client().get(f"/retrospectives/{retro}").get_data(as_text=True)
    assert "Payments release 4.2 retrospective" in page
    assert "Went wrong" in page and "Lesson" in page
    assert page.count('href="/lessons/L') >= 4
    assert app.test_client().get("/retrospectives/R0000").status_code == 404


def test_audit_page_lists_and_filters_decisions(web) -> None:
    app, _ = web
    page = app.test_client().get("/audit").get_data(as_text=True)
    assert "approval is missing" in page and "reverted to In Review" in page
    assert "approval is missing" not in app.test_client().get("/audit?issue=X-9").get_data(
        as_text=True
    )


def test_audit_page_filters_by_outcome_and_pages_through_the_real_log(tmp_path) -> None:
    from datetime import UTC, datetime

    from plugin.audit import SQLiteAuditLog
    from plugin.policy.decision import PolicyDecision, Trigger
    from plugin.policy.reasons import RequirementsUnmet
    from webhooks.web.audit import PolicyAuditSource

    log = SQLiteAuditLog(tmp_path / "hindsight.db")
    at = datetime.now(UTC)
    for n in range(1, 206):
        decision = PolicyDecision(
            rule="normal-change",
            kind="change-control",
            issue_key=f"PAY-{n}",
            mode="enforce",
            status="pass" if n == 7 else "fail",
            headline=RequirementsUnmet("Done", 1),
        )
        log.record([decision], Trigger("jira:issue_updated", f"d-{n}"), at=at)
    app, _ = make_web_app(tmp_path, audit=PolicyAuditSource(log))
    client = app.test_client()

    first = client.get("/audit?project=pay&outcome=fail").get_data(as_text=True)
    older = re.search(r'href="([^"]*before=\d+[^"]*)">Older decisions', first)
    assert older is not None and "outcome=fail" in older.group(1)
    second = client.get(older.group(1).replace("&amp;", "&")).get_data(as_text=True)
    only_pass = client.get("/audit?outcome=pass").get_data(as_text=True)

    assert first.count("<tr>") - 1 == 200 and ">PAY-205<" in first
    assert ">PAY-1<" in second and ">PAY-7<" not in second and "Older decisions" not in second
    assert "Newest decisions" in second
    assert ">PAY-7<" in only_pass and ">PAY-8<" not in only_pass


@pytest.mark.parametrize("query", ["outcome=maybe", "before=0", "before=x"])
def test_audit_page_refuses_a_malformed_filter_with_400(web, query: str) -> None:
    app, _ = web
    answer = app.test_client().get(f"/audit?{query}")
    assert answer.status_code == 400
    assert query.split("=")[0] in answer.get_data(as_text=True)


def test_dashboard_draws_outcomes_and_helpful_rate_as_svg(web) -> None:
    app, services = web
    services.journal.record_suggestions(
        "PAY-1", "PAY", "c1", "b", services.clock.now(), [("L-1", 0.7, 0.7)]
    )
    services.journal.record_feedback("PAY-1", "L-1", "helpful")
    page = app.test_client().get("/dashboard").get_data(as_text=True)
    assert page.count("<svg") == 2
    assert "Policy decisions per day by outcome" in page
    assert "100%" in page and "helpful rate overall" in page
    assert "normal-change" in page


def test_feedback_link_confirms_then_records(web) -> None:
    app, services = web
    lesson_id = lesson_ids(services, "rollback script")
    token = services.signer.sign("PAY-1", lesson_id, "not_relevant")
    client = app.test_client()
    shown = client.get(f"/lessons/feedback?t={token}")
    assert shown.status_code == 200 and 'id="confirm"' in shown.get_data(as_text=True)
    assert (
        services.journal.dismissed("PAY-1") == frozenset()
    )  # a GET (link scanner) records nothing
    done = client.post("/lessons/feedback", data={"t": token})
    assert 'id="recorded"' in done.get_data(as_text=True)
    assert services.journal.dismissed("PAY-1") == {lesson_id}


def test_a_forged_feedback_link_is_refused(web) -> None:
    app, services = web
    token = services.signer.sign("PAY-1", "L-1", "helpful")
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    response = app.test_client().post("/lessons/feedback", data={"t": forged})
    assert response.status_code == 400
    assert services.journal.tallies(["L-1"]) == {}


def test_pages_need_a_token_when_one_is_configured(tmp_path) -> None:
    app, services = make_web_app(tmp_path, access=AccessRules(tokens=("s3cret",)))
    client = app.test_client()
    assert client.get("/lessons").status_code == 401
    assert client.get("/lessons", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get("/lessons", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    moved = client.get("/lessons?q=rollback&token=s3cret")
    assert moved.status_code == 302 and "token" not in moved.headers["Location"]
    assert re.search(r"hindsight_token=s3cret; .*HttpOnly", moved.headers["Set-Cookie"])
    assert client.get("/lessons?q=rollback").status_code == 200  # the cookie now carries it
    token = services.signer.sign("PAY-1", "L-1", "helpful")
    assert app.test_client().get(f"/lessons/feedback?t={token}").status_code == 200  # open


def test_a_trusted_proxy_header_grants_access(tmp_path) -> None:
    app, _ = make_web_app(tmp_path, access=AccessRules(user_header="X-Forwarded-User"))
    client = app.test_client()
    assert client.get("/dashboard").status_code == 401
    assert client.get("/dashboard", headers={"X-Forwarded-User": "ann"}).status_code == 200


def test_pages_are_read_only(web) -> None:
    app, _ = web
    assert app.test_client().post("/lessons?q=x").status_code == 405


def test_search_says_no_strong_match_instead_of_listing_weak_ones(web) -> None:
    app, _ = web
    page = app.test_client().get("/lessons?q=choir+singing+timetable").get_data(as_text=True)
    assert "No strong match for “choir singing timetable”" in page
    assert 'class="result"' not in page
    found = app.test_client().get("/lessons?q=rollback").get_data(as_text=True)
    shown = found.count('class="result"')
    # the count is what is listed
    assert shown and re.search(rf"{shown} lessons? for “rollback”;\s+showing 1–{shown}", found)
