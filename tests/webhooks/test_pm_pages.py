"""What a project manager reads: true counts, paging, sorting, grouping by retrospective,
provenance without local paths, links to Jira, tags and projects, retrospectives and project
pages, and CSV / JSON exports (safe to open in a spreadsheet)."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime

import pytest

from kb.records import retrospective_id
from plugin.audit import SQLiteAuditLog
from plugin.jira.port import User
from plugin.policy.decision import PolicyDecision, Trigger
from plugin.policy.reasons import FieldEmpty, RequirementsUnmet
from tests.webhooks.helpers import make_web_app
from webhooks.web import LessonsWeb
from webhooks.web.audit import PolicyAuditSource

WIDGETS_A = 18  # lessons about widgets in the first register
WIDGETS_B = 12  # and in the second


def register(name: str, count: int, start: int, *, url: str | None = None) -> str:
    """JSONL lessons, each mentioning widgets, with distinct votes and dates."""
    lines = []
    for n in range(start, start + count):
        record = {
            "id": f"W-{n}",
            "text": f"Widget lesson number {n}: order widgets early. Then check them.",
            "project": "WID",
            "tags": ["widgets"],
            "date": f"2025-01-{n % 28 + 1:02d}",
            "votes": (n * 7) % 31,
            "kind": "lesson",
        }
        if url:
            record["url"] = url
        lines.append(json.dumps(record))
    return "\n".join(lines)


@pytest.fixture
def web(tmp_path):
    log = SQLiteAuditLog(tmp_path / "hindsight.db")
    at = datetime.now(UTC)
    for n in range(1, 8):
        decision = PolicyDecision(
            rule="normal-change",
            kind="change-control",
            issue_key=f"WID-{n}",
            mode="enforce",
            status="fail" if n % 2 else "pass",
            headline=RequirementsUnmet("Done", 1),
            reasons=(FieldEmpty("Approval"),),
        )
        # A display name is whatever a Jira user typed: here, a spreadsheet formula.
        actor = User(account_id="a1", display_name='=HYPERLINK("http://evil")') if n == 1 else None
        log.record([decision], Trigger("jira:issue_updated", f"d-{n}", actor=actor), at=at)
    app, services = make_web_app(
        tmp_path, audit=PolicyAuditSource(log), jira_url="https://acme.atlassian.net"
    )
    store = services.store
    store.ingest_source(
        "registers/a.jsonl",
        register("a", WIDGETS_A, 0),
        format="jsonl",
        title="Widget register A",
        url="https://wiki.example.com/widgets-a",
    )
    store.ingest_source("registers/b.jsonl", register("b", WIDGETS_B, 100), format="jsonl",
                        title="Widget register B")  # fmt: skip
    store.ingest_source(
        "retros/formula.md",
        "---\ntitle: Formula retro\nproject: WID\nteam: Sheets\nfacilitator: Ann Lee\n"
        "participants: [Ann Lee, Bo Ng]\n---\n## Lessons learned\n"
        '- =HYPERLINK("http://evil") was pasted into a widget cell.\n',
    )
    return app, services


def get(app, url: str) -> str:
    response = app.test_client().get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.get_data(as_text=True)


def lesson_links(page: str) -> list[str]:
    return re.findall(r'class="title" href="/lessons/([^"]+)"', page)


def test_search_says_the_true_count_and_pages_through_every_result(web) -> None:
    app, _ = web
    first = get(app, "/lessons?q=widgets&mode=keyword")
    total = WIDGETS_A + WIDGETS_B + 1
    assert f"{total} lessons for “widgets”" in first and "showing 1–25" in first
    assert "25 results" not in first
    nxt = re.search(r'<a rel="next" href="([^"]+)"', first)
    assert nxt is not None and "page=2" in nxt.group(1)
    second = get(app, nxt.group(1).replace("&amp;", "&"))
    assert f"showing 26–{total}" in second and 'rel="next"' not in second
    seen = lesson_links(first) + lesson_links(second)
    assert len(seen) == total and len(set(seen)) == total  # every result once, none twice


def test_search_of_a_word_no_lesson_has_says_so(web) -> None:
    app, _ = web
    page = get(app, "/lessons?q=zyxwvut&mode=keyword")
    assert "No strong match for “zyxwvut”" in page and lesson_links(page) == []


def test_search_sorts_by_votes_and_by_date_across_pages(web) -> None:
    app, services = web
    votes = []
    dates = []
    for page in (1, 2):
        for sort, into in (("votes", votes), ("date", dates)):
            body = get(app, f"/lessons?q=widgets&mode=keyword&sort={sort}&page={page}")
            for lesson_id in lesson_links(body):
                lesson = services.store.get(lesson_id)
                into.append(lesson.votes if sort == "votes" else lesson.date or "")
    assert votes == sorted(votes, reverse=True) and len(set(votes)) > 5
    assert dates[:-1] == sorted(dates[:-1], reverse=True)  # the undated lesson comes last


def test_results_are_grouped_under_their_retrospective_with_its_link(web) -> None:
    app, _ = web
    page = get(app, "/lessons?q=widgets&mode=keyword")
    headers = re.findall(r'<h2 class="retro"><a href="/retrospectives/(R\w+)">', page)
    assert len(headers) == len(set(headers))  # one heading per retrospective on the page
    assert set(headers) <= {retrospective_id(f"registers/{x}.jsonl") for x in "ab"} | {
        retrospective_id("retros/formula.md")
    }
    assert page.count("Widget register A") == 1
    assert 'href="https://wiki.example.com/widgets-a"' in page
    assert "registers/a.jsonl" not in page  # never the local source path


def test_the_headline_is_the_lessons_own_text(web) -> None:
    app, _ = web
    page = get(app, "/lessons?q=widget%20lesson%20number%207&mode=keyword")
    assert re.search(r'class="title" href="/lessons/W-7">Widget lesson number 7: order', page)


def test_tags_and_projects_link_to_their_lists(web) -> None:
    app, _ = web
    page = get(app, "/lessons?q=widgets&mode=keyword")
    assert 'href="/lessons?tag=widgets"' in page and 'href="/projects/WID"' in page
    tagged = get(app, "/lessons?tag=widgets")
    assert f"{WIDGETS_A + WIDGETS_B} lessons tagged #widgets" in tagged
    assert len(lesson_links(tagged)) == 25


def test_lesson_page_shows_the_retrospectives_people_and_links_issues_to_jira(web) -> None:
    app, services = web
    lesson = next(h for h in services.store.search("HYPERLINK", limit=3, mode="keyword"))
    services.journal.record_suggestions(
        "WID-104", "WID", "c1", "b", services.clock.now(), [(lesson.id, 0.7, 0.7)]
    )
    page = get(app, f"/lessons/{lesson.id}")
    assert "Sheets" in page and "Ann Lee" in page and "Bo Ng" in page
    assert '<a class="issue" href="https://acme.atlassian.net/browse/WID-104"' in page
    assert "retros/formula.md" not in page


def test_issue_keys_are_plain_text_without_a_jira_url(web) -> None:
    app, services = web
    app.extensions[LessonsWeb.EXTENSION].jira_url = None
    services.journal.record_suggestions(
        "WID-104", "WID", "c1", "b", services.clock.now(), [("W-1", 0.7, 0.7)]
    )
    page = get(app, "/lessons/W-1")
    assert "WID-104" in page and "/browse/" not in page


def test_retrospectives_list_counts_and_names_people(web) -> None:
    app, _ = web
    page = get(app, "/retrospectives")
    assert "4 retrospectives" in page  # the fixture's Payments retro and the three above
    row = re.search(r"Formula retro.*?</tr>", page, re.S)
    assert row is not None and "Sheets" in row.group(0) and "Ann Lee, Bo Ng" in row.group(0)
    register_a = re.search(r"Widget register A.*?</tr>", page, re.S)
    assert register_a is not None and f'<td class="num">{WIDGETS_A}</td>' in register_a.group(0)
    only_wid = get(app, "/retrospectives?project=wid")
    assert "3 retrospectives" in only_wid and "Payments release" not in only_wid


def test_project_page_shows_lessons_suggestions_with_answers_and_policy_outcomes(web) -> None:
    app, services = web
    services.journal.record_suggestions(
        "WID-9", "WID", "c1", "b", services.clock.now(), [("W-3", 0.7, 0.7), ("W-4", 0.6, 0.6)]
    )
    services.journal.record_feedback("WID-9", "W-3", "helpful")
    services.journal.record_seed("WID", "WID-1", "comment", ["W-5"])
    page = get(app, "/projects/wid")
    assert f"{WIDGETS_A + WIDGETS_B + 1} lessons" in page
    suggestions = page[page.index('id="suggestions"') : page.index('id="actions"')]
    assert "https://acme.atlassian.net/browse/WID-9" in suggestions
    assert "helpful" in suggestions and "no answer" in suggestions
    seeded = page[page.index('id="seeded"') : page.index('id="suggestions"')]
    assert "Widget lesson number 5" in seeded
    policy = page[page.index('id="policy"') :]
    assert "7 decisions in all" in policy and "4 fail" in policy and "3 pass" in policy
    assert app.test_client().get("/projects/no%20such").status_code == 404


def test_audit_page_says_how_many_decisions_match(web) -> None:
    app, _ = web
    assert "7 decisions match" in get(app, "/audit")
    assert "4 decisions match" in get(app, "/audit?outcome=fail")


def test_audit_exports_csv_and_json_with_the_outcome_filter_and_no_formula(web) -> None:
    app, _ = web
    answer = app.test_client().get("/audit/export.csv?outcome=fail")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    assert "attachment" in answer.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    assert {row["outcome"] for row in rows} == {"fail"} and len(rows) == 4
    assert all(not cell.startswith(("=", "+", "-", "@")) for r in rows for cell in r.values())
    assert any(r["actor"] == '\'=HYPERLINK("http://evil")' for r in rows)  # defused
    assert rows[0]["reasons"] == "missing: 'Approval' is empty (fill in 'Approval')"
    body = app.test_client().get("/audit/export.json?outcome=pass").get_json()
    assert body["total"] == 3 and body["capped"] is False and len(body["rows"]) == 3
    assert body["filters"] == {"outcome": "pass"}


def test_search_exports_every_result_in_the_pages_order(web) -> None:
    app, _ = web
    answer = app.test_client().get("/lessons/export.csv?q=widgets&mode=keyword&sort=votes")
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    assert len(rows) == WIDGETS_A + WIDGETS_B + 1
    assert [int(r["votes"]) for r in rows] == sorted((int(r["votes"]) for r in rows), reverse=True)
    formula = next(r for r in rows if "HYPERLINK" in r["text"])
    assert formula["text"].startswith("'=") and formula["headline"].startswith("'=")
    assert formula["team"] == "Sheets"
    assert not any("registers/" in cell or "retros/" in cell for r in rows for cell in r.values())
    body = app.test_client().get("/lessons/export.json?q=widgets&mode=keyword").get_json()
    assert body["total"] == len(body["rows"]) == WIDGETS_A + WIDGETS_B + 1
    assert body["rows"][0]["rank"] == 1
    assert app.test_client().get("/lessons/export.xml?q=widgets").status_code == 404


def test_api_search_pages_sorts_and_tells_the_total(web) -> None:
    app, _ = web
    client = app.test_client()
    total = WIDGETS_A + WIDGETS_B + 1
    first = client.get("/api/lessons/search?q=widgets&mode=keyword&limit=20").get_json()
    rest = client.get("/api/lessons/search?q=widgets&mode=keyword&limit=20&offset=20").get_json()
    assert first["total"] == rest["total"] == total and first["capped"] is False
    assert first["count"] == 20 and rest["count"] == total - 20
    ids = [r["id"] for r in first["results"] + rest["results"]]
    assert len(set(ids)) == total
    by_votes = client.get("/api/lessons/search?q=widgets&mode=keyword&sort=votes").get_json()
    votes = [r["votes"] for r in by_votes["results"]]
    assert votes == sorted(votes, reverse=True) and by_votes["sort"] == "votes"
    assert by_votes["results"][0]["headline"] and by_votes["results"][0]["retrospective_id"]
    bad = client.get("/api/lessons/search?q=widgets&offset=250")
    assert bad.status_code == 400 and "offset" in bad.get_json()["error"]


def test_search_past_the_deepest_page_says_to_narrow_it(web) -> None:
    app, _ = web
    answer = app.test_client().get("/lessons?q=widgets&page=11")
    assert answer.status_code == 400 and "narrow" in answer.get_data(as_text=True)


def test_a_page_past_the_last_says_so(web) -> None:
    app, _ = web
    page = get(app, "/lessons?tag=widgets&page=3")
    assert "page 3 is past the last page (2)" in page and lesson_links(page) == []


def test_an_archived_lesson_leaves_the_lists_and_the_counts(web) -> None:
    app, services = web
    services.store.curation.archive("W-1", "ann")
    tagged = get(app, "/lessons?tag=widgets")
    assert f"{WIDGETS_A + WIDGETS_B - 1} lessons tagged #widgets" in tagged
    register_a = re.search(r"Widget register A.*?</tr>", get(app, "/retrospectives"), re.S)
    assert register_a is not None
    assert f'<td class="num">{WIDGETS_A - 1}</td>' in register_a.group(0)


def test_action_items_show_on_the_project_page_the_retrospectives_list_and_download(web) -> None:
    app, services = web
    actions = services.store.actions
    first = actions.add(
        "ann", text='=HYPERLINK("http://evil") the widget order', owner="Dana",
        due="2020-01-31", project="WID", lesson_id="W-3",
    )  # fmt: skip
    actions.add("ann", text="Book the load-test room", owner="Bo", project="WID", lesson_id="W-4")
    done = actions.add("ann", text="Write the widget runbook", project="WID", lesson_id="W-5")
    actions.set_status(done.id, "done", "ann")

    project = get(app, "/projects/WID")
    open_items = project[project.index('id="actions"') : project.index('id="policy"')]
    assert "Book the load-test room" in open_items and "the widget order" in open_items
    assert "Write the widget runbook" not in open_items and "overdue" in open_items

    register_a = re.search(r"Widget register A.*?</tr>", get(app, "/retrospectives"), re.S)
    assert register_a is not None and "3 <span" in register_a.group(0)
    assert "(2 open)" in register_a.group(0)

    answer = app.test_client().get("/actions/export.csv?project=WID&status=all")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    assert len(rows) == 3 and {r["retrospective"] for r in rows} == {"Widget register A"}
    formula = next(r for r in rows if r["id"] == first.id)
    assert formula["text"].startswith("'=") and formula["overdue"] == "True"
    assert formula["retrospective_url"] == "https://wiki.example.com/widgets-a"
    assert not any("registers/" in cell for r in rows for cell in r.values())
    body = app.test_client().get("/actions/export.json?overdue=1").get_json()
    assert [r["id"] for r in body["rows"]] == [first.id] and body["capped"] is False
    assert app.test_client().get("/actions/export.pdf").status_code == 404
    item_page = get(app, f"/actions/{first.id}")
    assert f'href="/retrospectives/{retrospective_id("registers/a.jsonl")}"' in item_page


def test_the_blank_search_form_ranks_the_next_query_by_best_match(web) -> None:
    app, _ = web
    blank = get(app, "/lessons")
    assert re.search(r'<option value="relevance"\s+selected>', blank)
    newest = get(app, "/lessons?tag=widgets&sort=relevance")  # no query: newest first
    assert lesson_links(newest)[0] == "W-111"  # dated 2025-01-28, the latest of them
