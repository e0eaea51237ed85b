"""The lessons features' tables, as numbered migrations (`hindsight.lessons`).

Suggestions and their comments, feedback, seeds, captures, and the daily totals the dashboard
reads. Applied by `SQLiteLessonsJournal` through `kb.database`; the tables of the first steps are
PostgreSQL's too.
"""

from __future__ import annotations

import sqlite_utils
from sqlite_utils.migrations import Migrations

from kb.database import run_script

MIGRATIONS = Migrations("hindsight.lessons")


# The tables of steps m001 and m002, in types both engines read alike (SQLite gives DOUBLE
# PRECISION its REAL affinity), so PostgreSQL's steps (plugin.lessons.journal_postgres) run the
# same text.
SUGGESTIONS_AND_FEEDBACK = """
    CREATE TABLE lessons_suggestion_comments (
        issue_key TEXT PRIMARY KEY,
        project TEXT,
        comment_id TEXT,
        body_sha TEXT NOT NULL,
        first_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE lessons_suggestions (
        issue_key TEXT NOT NULL,
        lesson_id TEXT NOT NULL,
        project TEXT,
        similarity DOUBLE PRECISION NOT NULL,
        score DOUBLE PRECISION NOT NULL,
        position INTEGER NOT NULL,
        active INTEGER NOT NULL DEFAULT 1,
        first_at TEXT NOT NULL,
        last_at TEXT NOT NULL,
        PRIMARY KEY (issue_key, lesson_id)
    );
    CREATE TABLE lessons_feedback (
        issue_key TEXT NOT NULL,
        lesson_id TEXT NOT NULL,
        project TEXT,
        answer TEXT NOT NULL CHECK (answer IN ('helpful', 'not_relevant')),
        answered_at TEXT NOT NULL,
        PRIMARY KEY (issue_key, lesson_id)
    );
    CREATE INDEX lessons_feedback_by_lesson ON lessons_feedback (lesson_id);
"""
SEEDS_AND_CAPTURES = """
    CREATE TABLE lessons_seeds (
        project_key TEXT PRIMARY KEY,
        issue_key TEXT NOT NULL,
        mode TEXT NOT NULL,
        lesson_ids TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE lessons_captures (
        issue_key TEXT PRIMARY KEY,
        source TEXT NOT NULL,
        content_sha TEXT NOT NULL,
        lessons INTEGER NOT NULL,
        captured_at TEXT NOT NULL
    );
"""
SUGGESTIONS_BY_LESSON = (
    "CREATE INDEX lessons_suggestions_by_lesson ON lessons_suggestions (lesson_id, first_at)"
)


@MIGRATIONS()
def m001_suggestions_and_feedback(db: sqlite_utils.Database) -> None:
    run_script(db, SUGGESTIONS_AND_FEEDBACK)


@MIGRATIONS()
def m002_seeds_and_captures(db: sqlite_utils.Database) -> None:
    run_script(db, SEEDS_AND_CAPTURES)


@MIGRATIONS()
def m003_daily_totals(db: sqlite_utils.Database) -> None:
    """Suggestions and answers per day, kept by triggers, so the dashboard and the stats API
    read one row per day instead of counting every suggestion and answer ever recorded."""
    run_script(
        db,
        """
        CREATE TABLE lessons_daily (
            day TEXT PRIMARY KEY,
            suggested INTEGER NOT NULL DEFAULT 0,
            helpful INTEGER NOT NULL DEFAULT 0,
            not_relevant INTEGER NOT NULL DEFAULT 0
        ) WITHOUT ROWID;
        INSERT INTO lessons_daily (day, suggested)
            SELECT substr(first_at, 1, 10), count(*) FROM lessons_suggestions GROUP BY 1;
        INSERT INTO lessons_daily (day, helpful, not_relevant)
            SELECT substr(answered_at, 1, 10), sum(answer = 'helpful'),
                   sum(answer = 'not_relevant')
            FROM lessons_feedback WHERE true GROUP BY 1
            ON CONFLICT (day) DO UPDATE SET helpful = excluded.helpful,
                not_relevant = excluded.not_relevant;
        CREATE TRIGGER lessons_daily_suggested AFTER INSERT ON lessons_suggestions BEGIN
            INSERT INTO lessons_daily (day, suggested) VALUES (substr(NEW.first_at, 1, 10), 1)
                ON CONFLICT (day) DO UPDATE SET suggested = suggested + 1;
        END;
        CREATE TRIGGER lessons_daily_unsuggested AFTER DELETE ON lessons_suggestions BEGIN
            UPDATE lessons_daily SET suggested = suggested - 1
                WHERE day = substr(OLD.first_at, 1, 10);
        END;
        CREATE TRIGGER lessons_daily_answered AFTER INSERT ON lessons_feedback BEGIN
            INSERT INTO lessons_daily (day, helpful, not_relevant)
                VALUES (substr(NEW.answered_at, 1, 10), NEW.answer = 'helpful',
                        NEW.answer = 'not_relevant')
                ON CONFLICT (day) DO UPDATE SET helpful = helpful + excluded.helpful,
                    not_relevant = not_relevant + excluded.not_relevant;
        END;
        CREATE TRIGGER lessons_daily_reanswered AFTER UPDATE OF answer, answered_at
            ON lessons_feedback BEGIN
            UPDATE lessons_daily SET helpful = helpful - (OLD.answer = 'helpful'),
                not_relevant = not_relevant - (OLD.answer = 'not_relevant')
                WHERE day = substr(OLD.answered_at, 1, 10);
            INSERT INTO lessons_daily (day, helpful, not_relevant)
                VALUES (substr(NEW.answered_at, 1, 10), NEW.answer = 'helpful',
                        NEW.answer = 'not_relevant')
                ON CONFLICT (day) DO UPDATE SET helpful = helpful + excluded.helpful,
                    not_relevant = not_relevant + excluded.not_relevant;
        END;
        CREATE TRIGGER lessons_daily_unanswered AFTER DELETE ON lessons_feedback BEGIN
            UPDATE lessons_daily SET helpful = helpful - (OLD.answer = 'helpful'),
                not_relevant = not_relevant - (OLD.answer = 'not_relevant')
                WHERE day = substr(OLD.answered_at, 1, 10);
        END;
        """,
    )


@MIGRATIONS()
def m004_suggestions_by_lesson(db: sqlite_utils.Database) -> None:
    """A lesson's page lists the issues it was suggested on, newest first: read them by index."""
    db.execute(SUGGESTIONS_BY_LESSON)
