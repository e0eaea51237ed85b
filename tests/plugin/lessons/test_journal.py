from __future__ import annotations

import sqlite_utils

from kb.database import StoreConnection
from plugin.lessons.journal import MIGRATIONS, SQLiteLessonsJournal


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
        "PAY-1", "PAY", "c1", "body", clock(), [("L-1", 0.7, 0.7), ("L-2", 0.6, 0.6)]
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


def test_recording_new_suggestions_retires_the_old_ones(journal, clock) -> None:
    journal.record_suggestions("PAY-1", "PAY", "c1", "one", clock(), [("L-1", 0.7, 0.7)])
    journal.record_suggestions("PAY-1", "PAY", "c1", "two", clock(), [("L-2", 0.6, 0.6)])
    assert [s.lesson_id for s in journal.suggestions("PAY-1")] == ["L-2"]
    assert [s.lesson_id for s in journal.suggestions("PAY-1", active_only=False)] == ["L-2", "L-1"]
    assert journal.was_suggested("PAY-1", "L-1")


def test_memory_database_works(clock) -> None:
    journal = SQLiteLessonsJournal(":memory:", clock=clock)
    journal.record_seed("DB", "DB-1", "issue", ["L-1"])
    journal.record_seed("DB", "DB-2", "issue", ["L-2"])  # the first seed stands
    assert journal.seed("DB").issue_key == "DB-1"
