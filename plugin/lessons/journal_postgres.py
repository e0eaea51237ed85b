"""The suggestion journal on PostgreSQL (HINDSIGHT_DB=postgresql://...).

Implements `plugin.lessons.journal.LessonsJournal` with the queries of
`plugin.lessons.journal.SQLLessonsJournal`, over the same tables and the same daily totals kept by
triggers (here PL/pgSQL), so the dashboard reads one row per day on either engine. What this
module keeps is what differs: the schema and its triggers. The shared writes are safe without
SQLite's single writer: an answer is compared with the stored one inside its upsert, and
recording an issue's suggestions starts by upserting the issue's comment row, whose lock holds a
concurrent recording of that issue until commit.
"""

from __future__ import annotations

from kb.clock import SYSTEM_CLOCK, Clock
from kb.postgres import PostgresConnection, PostgresMigrations
from plugin.lessons.journal import SQLLessonsJournal
from plugin.lessons.schema import (
    SEEDS_AND_CAPTURES,
    SUGGESTIONS_AND_FEEDBACK,
    SUGGESTIONS_BY_LESSON,
)

MIGRATIONS = PostgresMigrations(
    "hindsight.lessons",
    (
        ("m001_suggestions_and_feedback", SUGGESTIONS_AND_FEEDBACK),
        ("m002_seeds_and_captures", SEEDS_AND_CAPTURES),
        (
            "m003_daily_totals",
            """
    CREATE TABLE lessons_daily (
        day TEXT PRIMARY KEY,
        suggested INTEGER NOT NULL DEFAULT 0,
        helpful INTEGER NOT NULL DEFAULT 0,
        not_relevant INTEGER NOT NULL DEFAULT 0
    );
    CREATE FUNCTION lessons_daily_add(on_day TEXT, s INTEGER, h INTEGER, n INTEGER)
        RETURNS void LANGUAGE sql AS $$
        INSERT INTO lessons_daily AS d (day, suggested, helpful, not_relevant)
            VALUES (on_day, s, h, n)
            ON CONFLICT (day) DO UPDATE SET suggested = d.suggested + excluded.suggested,
                helpful = d.helpful + excluded.helpful,
                not_relevant = d.not_relevant + excluded.not_relevant;
    $$;
    CREATE FUNCTION lessons_daily_suggestions() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            PERFORM lessons_daily_add(substr(OLD.first_at, 1, 10), -1, 0, 0);
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            PERFORM lessons_daily_add(substr(NEW.first_at, 1, 10), 1, 0, 0);
        END IF;
        RETURN NULL;
    END
    $$;
    CREATE TRIGGER lessons_daily_suggested AFTER INSERT OR DELETE OR UPDATE OF first_at
        ON lessons_suggestions FOR EACH ROW EXECUTE FUNCTION lessons_daily_suggestions();
    CREATE FUNCTION lessons_daily_answers() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            PERFORM lessons_daily_add(substr(OLD.answered_at, 1, 10), 0,
                -(OLD.answer = 'helpful')::int, -(OLD.answer = 'not_relevant')::int);
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            PERFORM lessons_daily_add(substr(NEW.answered_at, 1, 10), 0,
                (NEW.answer = 'helpful')::int, (NEW.answer = 'not_relevant')::int);
        END IF;
        RETURN NULL;
    END
    $$;
    CREATE TRIGGER lessons_daily_answered AFTER INSERT OR DELETE OR UPDATE OF answer, answered_at
        ON lessons_feedback FOR EACH ROW EXECUTE FUNCTION lessons_daily_answers();
    """,
        ),
        ("m004_suggestions_by_lesson", SUGGESTIONS_BY_LESSON),
    ),
)


class PostgresLessonsJournal(SQLLessonsJournal):
    """The journal in a PostgreSQL database every process shares."""

    _db: PostgresConnection

    def __init__(self, url: str, *, clock: Clock = SYSTEM_CLOCK) -> None:
        super().__init__(PostgresConnection(url), clock)
        self._db.migrate(MIGRATIONS)
