"""Headless Chromium drives the lessons pages: search, open a lesson, follow a feedback link, and
prove a script injected into a retrospective never runs; page and sort results, walk the
retrospectives list, a retrospective, a project page and their links. Saves a screenshot of each
page under the test's tmp path and bench/out/browser/ (not committed).

Uses Debian's chromium (/usr/bin/chromium) through Playwright; skipped when it is absent.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from testkit.audit import FakeAudit
from tests.webhooks.helpers import make_web_app
from webhooks.web.audit import AuditRow, OutcomeCount

pytestmark = pytest.mark.browser
CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def server(tmp_path) -> Iterator[tuple[str, object]]:
    from werkzeug.serving import make_server

    today = date.today()
    days = [(today - timedelta(days=n)).isoformat() for n in range(6)]
    audit = FakeAudit(
        rows=[
            AuditRow(f"{days[0]} 09:32:44", "jira:issue_updated", "OPS-101", "OPS", "Bo Example",
                     "change-control", "fail", ("missing: Approval is empty, not Approved",),
                     ("revert: move OPS-101 back to In Progress [done]",)),
        ],
        counts=[OutcomeCount(day, "OPS", rule, outcome, n)
                for i, day in enumerate(days)
                for rule, outcome, n in (("change-control", "pass", 3 + i % 3),
                                         ("change-control", "fail", i % 2 + 1),
                                         ("risk-review", "pass", 2))],
    )  # fmt: skip
    app, services = make_web_app(tmp_path, audit=audit)
    services.journal.record_suggestions(
        "OPS-104", "OPS", "c1", "b", services.clock.now(), [("L-1", 0.7, 0.7), ("L-2", 0.6, 0.6)]
    )
    services.journal.record_feedback("OPS-104", "L-1", "helpful")
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.port}", services
    httpd.shutdown()


@pytest.fixture
def page(tmp_path):
    if not CHROMIUM.exists() and not shutil.which("chromium"):
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=str(CHROMIUM if CHROMIUM.exists() else shutil.which("chromium")),
            headless=True,
            args=FLAGS,
            viewport={"width": 1100, "height": 900},
        )
        try:
            yield context.new_page()
        finally:
            context.close()


SCREENSHOTS = Path(__file__).resolve().parents[2] / "bench" / "out" / "browser"


def shoot(page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, SCREENSHOTS / path.name)
    print(f"screenshot: {SCREENSHOTS / path.name}")
    return path


def test_search_open_feedback_and_no_injected_script_runs(server, page, tmp_path) -> None:
    base, services = server
    page.goto(f"{base}/lessons")
    page.fill("input[name=q]", "orders table migration")
    page.click("button[type=submit]")
    page.wait_for_selector("ol.results li")
    assert page.locator("mark").count() > 0
    page.click("details.why summary")
    assert "ranking placed it" in page.inner_text("details.why")
    shoot(page, tmp_path, "search")

    assert page.locator("h2.retro", has_text="Payments release 4.2 retrospective").count() == 1
    page.click("ol.results a.title >> nth=0")  # the lesson's own words, not the retro's title
    page.wait_for_selector("article.lesson-body")
    page.goto(page.url)  # settle any script that could have run
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.title() != "pwned"
    shoot(page, tmp_path, "lesson")

    # The retrospective's javascript: link must not survive as a link either.
    lesson_id = next(h.id for h in services.store.search("runbook", limit=5) if "runbook" in h.text)
    page.goto(f"{base}/lessons/{lesson_id}")
    assert page.locator("a[href^='javascript']").count() == 0
    assert page.evaluate("typeof window.__pwned") == "undefined"

    token = services.signer.sign("PAY-7", lesson_id, "helpful")
    page.goto(f"{base}/lessons/feedback?t={token}")
    page.click("#confirm")
    page.wait_for_selector("#recorded")
    assert services.journal.tallies([lesson_id])[lesson_id].helpful == 1
    shoot(page, tmp_path, "feedback")

    page.goto(f"{base}/dashboard")
    assert page.locator("svg.chart").count() == 2
    shoot(page, tmp_path, "dashboard")
    page.goto(f"{base}/audit")
    assert "missing: Approval is empty" in page.inner_text("table.audit")
    shoot(page, tmp_path, "audit")


def test_the_detector_would_see_a_script_that_ran(page) -> None:
    """Control: the same check does catch an unsanitised script, so the test above can fail."""
    page.set_content('<script>window.__pwned = 1; document.title = "pwned"</script>')
    assert page.evaluate("window.__pwned") == 1
    assert page.title() == "pwned"


@pytest.fixture
def widgets(tmp_path) -> Iterator[tuple[str, object]]:
    """A store of 31 widget lessons in three retrospectives, a real audit log, a Jira URL."""
    from werkzeug.serving import make_server

    from plugin.audit import SQLiteAuditLog
    from plugin.policy.decision import PolicyDecision, Trigger
    from plugin.policy.reasons import RequirementsUnmet
    from tests.webhooks.test_pm_pages import WIDGETS_A, WIDGETS_B, register
    from webhooks.web.audit import PolicyAuditSource

    log = SQLiteAuditLog(tmp_path / "hindsight.db")
    for n in range(1, 6):
        decision = PolicyDecision(
            rule="normal-change", kind="change-control", issue_key=f"WID-{n}", mode="enforce",
            status="fail" if n % 2 else "pass", headline=RequirementsUnmet("Done", 1),
        )  # fmt: skip
        log.record([decision], Trigger("jira:issue_updated", f"d-{n}"))
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
        "retros/widgets.md",
        "---\ntitle: Widget launch retrospective\nproject: WID\nteam: Widgets\n"
        "facilitator: Ann Lee\nparticipants: [Ann Lee, Bo Ng]\ndate: 2025-02-01\n---\n"
        "## Lessons learned\n- Order widgets before the launch week.\n",
    )
    services.journal.record_suggestions(
        "WID-9", "WID", "c1", "b", services.clock.now(), [("W-3", 0.7, 0.7), ("W-4", 0.6, 0.6)]
    )
    services.journal.record_feedback("WID-9", "W-3", "helpful")
    store.actions.add(
        "ann", text="Order the spare widgets", owner="Dana", due="2020-01-31", lesson_id="W-3"
    )
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.port}", services
    httpd.shutdown()


def test_page_and_sort_results_then_walk_retrospectives_and_a_project(
    widgets, page, tmp_path
) -> None:
    base, services = widgets
    page.goto(f"{base}/lessons")
    page.fill("input[name=q]", "widgets")
    page.select_option("select[name=mode]", "keyword")
    page.select_option("select[name=sort]", "votes")
    page.click("button[type=submit]")
    page.wait_for_selector("#count")
    assert "31 lessons for “widgets”; showing 1–25" in page.inner_text("#count")
    first_votes = [services.store.get(h.split("/")[-1]).votes for h in _lesson_hrefs(page)]
    assert first_votes == sorted(first_votes, reverse=True)
    shoot(page, tmp_path, "search-by-votes")
    page.click("a[rel=next]")
    page.wait_for_selector("#count")
    assert "showing 26–31" in page.inner_text("#count")
    later_votes = [services.store.get(h.split("/")[-1]).votes for h in _lesson_hrefs(page)]
    assert len(later_votes) == 6 and max(later_votes) <= min(first_votes)
    shoot(page, tmp_path, "search-page-2")

    page.click("nav >> text=Retrospectives")
    page.wait_for_selector("table.retros")
    assert "4 retrospectives" in page.inner_text("#count")
    row = page.locator("table.retros tr", has_text="Widget launch retrospective")
    assert "Ann Lee, Bo Ng" in row.inner_text() and "Widgets" in row.inner_text()
    shoot(page, tmp_path, "retrospectives")
    row.locator("a", has_text="Widget launch retrospective").click()
    page.wait_for_selector("dl.facts")
    assert "Ann Lee" in page.inner_text("dl.facts")
    shoot(page, tmp_path, "retrospective")

    page.click("dl.facts a.project")
    page.wait_for_selector("#policy")
    assert page.url.endswith("/projects/WID")
    assert "5 decisions in all" in page.inner_text("#policy")
    assert "Order the spare widgets" in page.inner_text("#actions")
    assert "overdue" in page.inner_text("#actions")
    jira = page.locator("#suggestions a.issue", has_text="WID-9").first
    assert jira.get_attribute("href") == "https://acme.atlassian.net/browse/WID-9"
    shoot(page, tmp_path, "project")

    page.click("#lessons a >> text=all of them")
    page.wait_for_selector("#count")
    assert "31 lessons in WID" in page.inner_text("#count")
    page.click("ol.results a.tag >> nth=0")
    page.wait_for_selector("#count")
    assert "30 lessons tagged #widgets" in page.inner_text("#count")
    shoot(page, tmp_path, "tag")


def _lesson_hrefs(page) -> list[str]:
    return [a.get_attribute("href") for a in page.locator("ol.results a.title").all()]
