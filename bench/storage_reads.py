"""What the read-only request paths over the stores cost on a large database, old way and new.

    .venv/bin/python -m bench.storage_reads [--rows 200000]

Fills one SQLite file with `--rows` deliveries, audit decisions (over 50 projects, 4 rules, a
year) and lesson suggestions with answers, through the stores' own SQL (so the triggers that
keep the totals run), then times, median of several calls:
- a /metrics scrape's delivery counts and queue depth (kept counts) next to counting the log;
- the audit page: first page of one project, a page deep in the log by keyset, one outcome of
  one rule, and the old way (every entry read, then filtered in Python);
- the dashboard's outcome counts for 30 days (GROUP BY over a covering index: grows with the
  decisions in the window) and the helpful rate overall (kept daily totals) next to counting
  every suggestion and answer.
Figures depend on the machine; the point is how each grows with the rows.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.figures import median_ms
from plugin.audit import AuditFilter, SQLiteAuditLog, project_of
from plugin.lessons.journal import SQLiteLessonsJournal
from webhooks.metrics import render_metrics
from webhooks.store import STATUSES, SQLiteDeliveryStore

RULES = ("change-control", "risk-review", "emergency", "standard-change")
OUTCOMES = ("pass", "fail", "error", "skipped")


def _fill(db: Path, rows: int) -> tuple[SQLiteDeliveryStore, SQLiteAuditLog, SQLiteLessonsJournal]:
    deliveries = SQLiteDeliveryStore(db)
    deliveries.migrate()
    with deliveries.db.write() as conn:
        conn.executemany(
            "INSERT INTO deliveries (key, event, subject, issue_key, status, auth, body,"
            " received_at) VALUES (?, 'jira:issue_updated', ?, ?, ?, 'signature', x'7b7d', ?)",
            (
                (f"d-{n}", f"i-{n % 5000}", f"P{n % 50}-{n}", STATUSES[n % 7 if n % 97 else 0], n)
                for n in range(rows)
            ),
        )
    audit = SQLiteAuditLog(db)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    with audit._db.write() as conn:
        conn.executemany(
            "INSERT INTO policy_audit (project, at, delivery, event, issue_key, rule, kind, mode,"
            " outcome, summary, reasons, actions) VALUES"
            " (?, ?, ?, 'jira:issue_updated', ?, ?, 'change-control', 'enforce', ?, 's', '[]',"
            " '[]')",
            (
                (
                    project_of(f"P{n % 50}-{n}"),
                    (start + timedelta(minutes=n * 525_600 // rows)).isoformat(
                        timespec="milliseconds"
                    ),
                    f"d-{n}",
                    f"P{n % 50}-{n}",
                    RULES[n % 4],
                    OUTCOMES[n % 3 if n % 11 else 3],
                )
                for n in range(rows)
            ),
        )
    journal = SQLiteLessonsJournal(db)
    with journal._db.write() as conn:
        conn.executemany(
            "INSERT INTO lessons_suggestions (issue_key, lesson_id, similarity, score, position,"
            " first_at, last_at) VALUES (?, ?, 0.7, 0.7, 1, ?, ?)",
            (
                (f"P{n % 50}-{n // 3}", f"L-{n % 977}", at, at)
                for n in range(rows)
                for at in [(start + timedelta(minutes=n * 525_600 // rows)).isoformat()]
            ),
        )
        conn.executemany(
            "INSERT INTO lessons_feedback (issue_key, lesson_id, answer, answered_at)"
            " VALUES (?, ?, ?, ?)",
            (
                (f"P{n % 50}-{n // 3}", f"L-{n % 977}", "helpful" if n % 3 else "not_relevant",
                 (start + timedelta(minutes=n * 525_600 // rows)).isoformat())
                for n in range(0, rows, 4)
            ),
        )  # fmt: skip
    return deliveries, audit, journal


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="rows in each store")
    args = parser.parse_args(argv or [])
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        deliveries, audit, journal = _fill(Path(folder) / "bench.db", args.rows)
        print(f"filled {args.rows:,} rows per store in {time.perf_counter() - started:.1f} s")
        conn = deliveries.db.conn

        def scan_counts() -> None:
            conn.execute(
                "SELECT event, status, count(*) FROM deliveries GROUP BY status, event"
            ).fetchall()
            conn.execute(
                "SELECT count(*) FROM deliveries WHERE status IN (?, ?, ?)",
                ("received", "processing", "retrying"),
            ).fetchone()

        def kept_counts() -> None:
            deliveries.status_counts()
            deliveries.queue_depth()

        print(
            f"/metrics delivery counts   kept {median_ms(kept_counts):8.2f} ms"
            f"   counting the log {median_ms(scan_counts):8.2f} ms"
        )
        print(f"/metrics whole scrape      {median_ms(lambda: render_metrics(deliveries)):8.2f} ms")

        def page(where: AuditFilter, before: int | None = None) -> Callable[[], Any]:
            return lambda: audit.page(where, limit=200, before=before)

        deep = args.rows // 10  # a cursor near the oldest entries
        print(f"/audit project, page 1     {median_ms(page(AuditFilter(project='P7'))):8.2f} ms")
        print(f"/audit deep page (keyset)  {median_ms(page(AuditFilter(), deep)):8.2f} ms")
        where = AuditFilter(rule="risk-review", outcome="skipped")
        print(f"/audit rule + outcome      {median_ms(page(where)):8.2f} ms")

        def old_project_filter() -> None:
            rows = audit.query()
            [e for e in reversed(rows) if project_of(e.issue_key) == "P7"][:200]

        print(f"/audit project, old way    {median_ms(old_project_filter, times=3):8.2f} ms")
        since = (datetime(2026, 1, 1) - timedelta(days=29)).date().isoformat()
        print(
            f"/dashboard outcomes 30 d   "
            f"{median_ms(lambda: audit.outcome_counts(since=since)):8.2f} ms (GROUP BY)"
        )

        def scan_rates() -> None:
            conn.execute("SELECT COUNT(*) FROM lessons_suggestions").fetchone()
            conn.execute(
                "SELECT SUM(answer = 'helpful'), SUM(answer = 'not_relevant') FROM lessons_feedback"
            ).fetchone()

        print(
            f"/dashboard helpful overall kept "
            f"{median_ms(lambda: journal.helpful_rates(by_day=False)):8.2f} ms"
            f"   counting every row {median_ms(scan_rates):8.2f} ms"
        )
        print(
            f"/api/lessons/stats days    kept "
            f"{median_ms(lambda: journal.helpful_rates(by_day=True)):8.2f} ms"
        )
        for store in (deliveries, audit, journal._db):
            store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
