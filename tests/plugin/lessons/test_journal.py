from __future__ import annotations

import threading

import pytest
import sqlite_utils

from kb.database import StoreConnection
from plugin.lessons.journal import FeedbackTally, LessonsJournal, SQLiteLessonsJournal
from plugin.lessons.schema import MIGRATIONS


def test_migrations_apply_once_and_create_the_tables(tmp_path) -> None:
    SQLiteLessonsJournal(tmp_path / "h.db")
    shared = StoreConnection(tmp_path / "h.db")
    SQLiteLessonsJournal(shared)  # applying again is harmless
    db = sqlite_utils.Database(shared.conn)
    assert {"lessons_suggestions", "lessons_feedback", "lessons_seeds", "lessons_captures"} <= set(
        db.table_names()
    )
    assert MIGRATIONS.pending(db) == []
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_feedback_keeps_the_latest_answer_per_issue_and_lesson(journal) -> None:
    assert journal.record_feedback("PAY-1", "L-1", "helpful")
    assert not journal.record_feedback("PAY-1", "L-1", "helpful")  # a second click changes nothing
    assert journal.record_feedback("PAY-1", "L-1", "not_relevant")
    journal.record_feedback("PAY-2", "L-1", "helpful")
    tally = journal.tallies(["L-1", "L-2"])
    assert (tally["L-1"].helpful, tally["L-1"].not_relevant) == (1, 1)
    assert "L-2" not in tally
    assert journal.dismissed("PAY-1") == {"L-1"}
    assert journal.dismissed("PAY-2") == frozenset()


def test_helpful_rate_per_day(journal, clock) -> None:
    journal.record_suggestions(
        "PAY-1", "PAY", "c1", "body", clock.now(), [("L-1", 0.7, 0.7), ("L-2", 0.6, 0.6)]
    )
    journal.record_feedback("PAY-1", "L-1", "helpful")
    clock.advance(days=1)
    journal.record_feedback("PAY-1", "L-2", "not_relevant")
    days = journal.helpful_rates()
    assert [(d.period, d.suggested, d.helpful, d.not_relevant) for d in days] == [
        ("2026-03-02", 2, 1, 0),
        ("2026-03-03", 0, 0, 1),
    ]
    (overall,) = journal.helpful_rates(by_day=False)
    assert overall.rate == 0.5


def _rates_by_scan(conn, since: str = "") -> list[tuple[str, int, int, int]]:
    """What the daily totals must equal: the suggestions and current answers counted by day."""
    days: dict[str, list[int]] = {}
    for (at,) in conn.execute("SELECT first_at FROM lessons_suggestions"):
        days.setdefault(at[:10], [0, 0, 0])[0] += 1
    for at, answer in conn.execute("SELECT answered_at, answer FROM lessons_feedback"):
        days.setdefault(at[:10], [0, 0, 0])[1 if answer == "helpful" else 2] += 1
    return [(day, *n) for day, n in sorted(days.items()) if day >= since]


def test_daily_totals_follow_changed_answers_and_match_a_count(clock) -> None:
    journal = SQLiteLessonsJournal(":memory:", clock=clock)
    for n in range(1, 5):
        journal.record_suggestions(
            f"PAY-{n}", "PAY", f"c{n}", "b", clock.now(), [("L-1", 0.7, 0.7), ("L-2", 0.6, 0.6)]
        )
        journal.record_feedback(f"PAY-{n}", "L-1", "helpful" if n % 2 else "not_relevant")
        clock.advance(days=1)
    journal.record_suggestions("PAY-1", "PAY", "c1", "again", clock.now(), [("L-3", 0.6, 0.6)])
    journal.record_feedback("PAY-1", "L-1", "not_relevant")  # changes its mind days later
    journal.record_feedback("PAY-2", "L-1", "not_relevant")  # the same answer: nothing moves

    days = [(d.period, d.suggested, d.helpful, d.not_relevant) for d in journal.helpful_rates()]
    since = journal.helpful_rates(since="2026-03-04")
    (overall,) = journal.helpful_rates(by_day=False)

    assert days == _rates_by_scan(journal._db.conn)
    assert [(d.period, d.suggested, d.helpful, d.not_relevant) for d in since] == (
        _rates_by_scan(journal._db.conn, since="2026-03-04")
    )
    assert (overall.suggested, overall.helpful, overall.not_relevant) == (9, 1, 3)
    assert SQLiteLessonsJournal(":memory:").helpful_rates(by_day=False) == []


def test_recording_new_suggestions_retires_the_old_ones(journal, clock) -> None:
    journal.record_suggestions("PAY-1", "PAY", "c1", "one", clock.now(), [("L-1", 0.7, 0.7)])
    journal.record_suggestions("PAY-1", "PAY", "c1", "two", clock.now(), [("L-2", 0.6, 0.6)])
    assert [s.lesson_id for s in journal.suggestions("PAY-1")] == ["L-2"]
    assert [s.lesson_id for s in journal.suggestions("PAY-1", active_only=False)] == ["L-2", "L-1"]
    assert journal.was_suggested("PAY-1", "L-1")


def test_memory_database_works(clock) -> None:
    journal = SQLiteLessonsJournal(":memory:", clock=clock)
    journal.record_seed("DB", "DB-1", "issue", ["L-1"])
    journal.record_seed("DB", "DB-2", "issue", ["L-2"])  # the first seed stands
    assert journal.seed("DB").issue_key == "DB-1"


def test_daily_totals_start_from_what_an_older_database_holds(tmp_path) -> None:
    from sqlite_utils.migrations import Migrations

    from kb.database import connect, migrate
    from plugin.lessons.schema import m001_suggestions_and_feedback, m002_seeds_and_captures

    before = Migrations(MIGRATIONS.name)  # the schema before the daily totals
    before()(m001_suggestions_and_feedback)
    before()(m002_seeds_and_captures)
    conn = connect(tmp_path / "old.db")
    migrate(conn, before)
    conn.execute(
        "INSERT INTO lessons_suggestions (issue_key, lesson_id, similarity, score, position,"
        " first_at, last_at) VALUES ('PAY-1', 'L-1', 0.7, 0.7, 1, '2026-03-01T09:00:00+00:00',"
        " '2026-03-01T09:00:00+00:00')"
    )
    conn.execute(
        "INSERT INTO lessons_feedback (issue_key, lesson_id, answer, answered_at)"
        " VALUES ('PAY-1', 'L-1', 'helpful', '2026-03-02T10:00:00+00:00')"
    )
    conn.close()

    journal = SQLiteLessonsJournal(tmp_path / "old.db")

    assert [
        (d.period, d.suggested, d.helpful, d.not_relevant) for d in journal.helpful_rates()
    ] == [
        ("2026-03-01", 1, 0, 0),
        ("2026-03-02", 0, 1, 0),
    ]


def test_a_lessons_issues_are_read_through_an_index(clock) -> None:
    journal = SQLiteLessonsJournal(":memory:", clock=clock)  # SQLite's query plan
    journal.record_suggestions("PAY-1", "PAY", "c1", "b", clock.now(), [("L-1", 0.7, 0.7)])
    clock.advance(days=1)
    journal.record_suggestions("OPS-2", "OPS", "c2", "b", clock.now(), [("L-1", 0.6, 0.6)])
    plan = " ".join(
        row[3]
        for row in journal._db.conn.execute(
            "EXPLAIN QUERY PLAN SELECT issue_key FROM lessons_suggestions WHERE lesson_id = ?"
            " ORDER BY first_at DESC LIMIT 20",
            ["L-1"],
        )
    )

    assert journal.issues_suggested("L-1") == ["OPS-2", "PAY-1"]
    assert "USING INDEX lessons_suggestions_by_lesson" in plan and "TEMP B-TREE" not in plan


def test_merging_lessons_moves_rows_once_and_keeps_the_daily_totals(journal, clock) -> None:
    journal.record_suggestions(
        "PAY-1", "PAY", "c1", "b", clock.now(), [("L-a", 0.7, 0.7), ("L-b", 0.6, 0.6)]
    )
    journal.record_suggestions("PAY-2", "PAY", "c2", "b", clock.now(), [("L-a", 0.7, 0.7)])
    journal.record_feedback("PAY-2", "L-a", "helpful")
    journal.record_feedback("PAY-1", "L-b", "not_relevant")  # fmt: skip

    assert journal.move_lesson("L-a", "L-b") == 2  # PAY-1 already had L-b: that row is kept
    assert journal.move_lesson("L-a", "L-b") == 0

    assert [s.lesson_id for s in journal.suggestions("PAY-1")] == ["L-b"]
    assert journal.issues_suggested("L-a") == []
    assert journal.tallies(["L-a", "L-b"]) == {"L-b": FeedbackTally(1, 1)}
    [total] = journal.helpful_rates(by_day=False)
    assert (total.suggested, total.helpful, total.not_relevant) == (2, 1, 1)


def test_a_projects_suggestions_come_newest_first_with_answers_in_any_case(journal, clock) -> None:
    """On both engines: PostgreSQL's journal had no `project_suggestions` (the project page)."""
    journal.record_suggestions(
        "PAY-1", "PAY", "c1", "b", clock.now(), [("L-1", 0.7, 0.7), ("L-2", 0.6, 0.5)]
    )
    clock.advance(days=1)
    journal.record_suggestions("PAY-2", "PAY", "c2", "b", clock.now(), [("L-3", 0.9, 0.9)])
    journal.record_suggestions("OPS-1", "OPS", "c3", "b", clock.now(), [("L-1", 0.8, 0.8)])
    journal.record_feedback("PAY-1", "L-2", "helpful")

    found = journal.project_suggestions("pay")

    assert [(s.issue_key, s.lesson_id, s.position, s.answer) for s in found] == [
        ("PAY-2", "L-3", 1, None),
        ("PAY-1", "L-1", 1, None),
        ("PAY-1", "L-2", 2, "helpful"),
    ]
    assert found[0].last_at == clock.now().isoformat(timespec="seconds")
    assert [s.lesson_id for s in journal.project_suggestions("PAY", limit=1)] == ["L-3"]
    assert journal.project_suggestions("NONE") == []


def test_tallies_count_answers_across_batches_of_lesson_ids(journal) -> None:
    journal.record_feedback("PAY-1", "L-7", "helpful")
    journal.record_feedback("PAY-2", "L-7", "not_relevant")
    journal.record_feedback("PAY-1", "L-1100", "helpful")  # in the third batch of 500

    tally = journal.tallies([f"L-{n}" for n in range(1200)])

    assert tally == {"L-7": FeedbackTally(1, 1), "L-1100": FeedbackTally(1, 0)}


def test_the_first_seed_stands_and_a_capture_keeps_its_latest_hash(journal) -> None:
    journal.record_seed("DB", "DB-1", "issue", ["L-1", "L-2"])
    journal.record_seed("DB", "DB-2", "comment", ["L-3"])
    journal.record_capture("DB-7", "comment", "sha-1", 2)
    journal.record_capture("DB-7", "description", "sha-2", 3)

    seed = journal.seed("DB")
    assert (seed.issue_key, seed.mode, seed.lesson_ids) == ("DB-1", "issue", ("L-1", "L-2"))
    assert journal.seed("OPS") is None
    assert (journal.capture_sha("DB-7"), journal.capture_sha("DB-8")) == ("sha-2", None)


@pytest.mark.postgres
def test_one_answer_stored_twice_at_once_changes_the_journal_once(postgres_url, clock) -> None:
    """Two machines store the same click at the same moment: one of them changed something.

    On PostgreSQL the answer was read, then written: both writers could read no answer and
    both report a change. The comparison is now part of the upsert on both engines.
    """
    from plugin.lessons.journal_postgres import PostgresLessonsJournal

    journals = [PostgresLessonsJournal(postgres_url, clock=clock) for _ in range(2)]
    changed: list[bool] = []

    def click(journal: LessonsJournal, issue: str, start: threading.Barrier) -> None:
        start.wait()
        changed.append(journal.record_feedback(issue, "L-1", "helpful"))

    for n in range(20):
        start = threading.Barrier(2)
        threads = [threading.Thread(target=click, args=(j, f"PAY-{n}", start)) for j in journals]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert changed.count(True) == 20 and len(changed) == 40
    assert journals[0].tallies(["L-1"]) == {"L-1": FeedbackTally(20, 0)}
    for journal in journals:
        journal.close()
