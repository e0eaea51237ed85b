"""The suggestion journal on PostgreSQL (HINDSIGHT_DB=postgresql://...).

Implements `plugin.lessons.journal.LessonsJournal` with the same tables and the same daily
totals kept by triggers (here PL/pgSQL), so the dashboard reads one row per day on either engine.
Writes that read first (an answer compared with the one before) lock the row they read
(`FOR UPDATE`), as SQLite's single writer did for them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime

from kb.clock import SYSTEM_CLOCK, Clock
from kb.postgres import PostgresConnection, PostgresMigrations
from plugin.lessons.journal import (
    FeedbackTally,
    HelpfulRate,
    SeedRecord,
    SuggestedLesson,
    SuggestionComment,
    sha256,
)
from plugin.lessons.signing import Answer

MIGRATIONS = PostgresMigrations(
    "hindsight.lessons",
    (
        (
            "m001_suggestions_and_feedback",
            """
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
    """,
        ),
        (
            "m002_seeds_and_captures",
            """
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
    """,
        ),
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
        (
            "m004_suggestions_by_lesson",
            "CREATE INDEX lessons_suggestions_by_lesson"
            " ON lessons_suggestions (lesson_id, first_at)",
        ),
    ),
)


class PostgresLessonsJournal:
    """The journal in a PostgreSQL database every process shares."""

    def __init__(self, url: str, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self._db = PostgresConnection(url)
        self._clock = clock
        self._db.migrate(MIGRATIONS)

    def close(self) -> None:
        self._db.close()

    def _now(self) -> str:
        return self._clock.now().isoformat(timespec="seconds")

    # -- the suggestion comment

    def suggestion_comment(self, issue_key: str) -> SuggestionComment | None:
        with self._db.read() as conn:
            row = conn.execute(
                "SELECT issue_key, comment_id, body_sha, first_at, updated_at"
                " FROM lessons_suggestion_comments WHERE issue_key = ?",
                (issue_key,),
            ).fetchone()
        if row is None:
            return None
        return SuggestionComment(
            issue_key=row[0],
            comment_id=row[1],
            body_sha=row[2],
            first_at=datetime.fromisoformat(row[3]),
            updated_at=datetime.fromisoformat(row[4]),
        )

    def record_suggestions(
        self,
        issue_key: str,
        project: str | None,
        comment_id: str | None,
        body: str,
        first_at: datetime,
        suggested: Sequence[tuple[str, float, float]],
    ) -> None:
        """Remember the comment and its lessons (id, similarity, score), in order, at once."""
        now = self._now()
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO lessons_suggestion_comments"
                " (issue_key, project, comment_id, body_sha, first_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (issue_key) DO UPDATE SET comment_id = excluded.comment_id,"
                " body_sha = excluded.body_sha, updated_at = excluded.updated_at",
                (issue_key, project, comment_id, sha256(body),
                 first_at.isoformat(timespec="seconds"), now),
            )  # fmt: skip
            conn.execute(
                "UPDATE lessons_suggestions SET active = 0 WHERE issue_key = ?", (issue_key,)
            )
            for position, (lesson_id, similarity, score) in enumerate(suggested, start=1):
                conn.execute(
                    "INSERT INTO lessons_suggestions (issue_key, lesson_id, project, similarity,"
                    " score, position, active, first_at, last_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?)"
                    " ON CONFLICT (issue_key, lesson_id) DO UPDATE SET"
                    " similarity = excluded.similarity, score = excluded.score,"
                    " position = excluded.position, active = 1, last_at = excluded.last_at",
                    (issue_key, lesson_id, project, similarity, score, position, now, now),
                )

    def suggestions(self, issue_key: str, *, active_only: bool = True) -> list[SuggestedLesson]:
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT s.issue_key, s.lesson_id, s.similarity, s.score, s.position, s.active,"
                " f.answer FROM lessons_suggestions s LEFT JOIN lessons_feedback f"
                " ON f.issue_key = s.issue_key AND f.lesson_id = s.lesson_id"
                f" WHERE s.issue_key = ? {'AND s.active = 1' if active_only else ''}"
                " ORDER BY s.active DESC, s.position",
                (issue_key,),
            ).fetchall()
        return [
            SuggestedLesson(
                issue_key=row[0],
                lesson_id=row[1],
                similarity=row[2],
                score=row[3],
                position=row[4],
                active=bool(row[5]),
                answer=row[6],
            )
            for row in rows
        ]

    def was_suggested(self, issue_key: str, lesson_id: str) -> bool:
        with self._db.read() as conn:
            return (
                conn.execute(
                    "SELECT 1 FROM lessons_suggestions WHERE issue_key = ? AND lesson_id = ?",
                    (issue_key, lesson_id),
                ).fetchone()
                is not None
            )

    # -- feedback

    def record_feedback(self, issue_key: str, lesson_id: str, answer: Answer) -> bool:
        """Store the latest answer about a lesson on an issue; False if it was already that."""
        with self._db.write() as conn:
            found = conn.execute(
                "SELECT project FROM lessons_suggestion_comments WHERE issue_key = ?",
                (issue_key,),
            ).fetchone()
            project = found[0] if found else (
                issue_key.rsplit("-", 1)[0] if "-" in issue_key else None
            )  # fmt: skip
            before = conn.execute(
                "SELECT answer FROM lessons_feedback WHERE issue_key = ? AND lesson_id = ?"
                " FOR UPDATE",
                (issue_key, lesson_id),
            ).fetchone()
            if before and before[0] == answer:
                return False
            conn.execute(
                "INSERT INTO lessons_feedback (issue_key, lesson_id, project, answer, answered_at)"
                " VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (issue_key, lesson_id) DO UPDATE SET answer = excluded.answer,"
                " answered_at = excluded.answered_at",
                (issue_key, lesson_id, project, answer, self._now()),
            )
        return True

    def dismissed(self, issue_key: str) -> frozenset[str]:
        """Lessons someone marked not relevant on this issue: never suggested there again."""
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT lesson_id FROM lessons_feedback WHERE issue_key = ? AND answer = ?",
                (issue_key, "not_relevant"),
            ).fetchall()
        return frozenset(row[0] for row in rows)

    def tallies(self, lesson_ids: Iterable[str]) -> dict[str, FeedbackTally]:
        """Answers per lesson, for the given lessons (absent lessons have none)."""
        ids = list(dict.fromkeys(lesson_ids))
        if not ids:
            return {}
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT lesson_id, count(*) FILTER (WHERE answer = 'helpful'),"
                " count(*) FILTER (WHERE answer = 'not_relevant')"
                " FROM lessons_feedback WHERE lesson_id = ANY(?) GROUP BY lesson_id",
                (ids,),
            ).fetchall()
        return {row[0]: FeedbackTally(int(row[1]), int(row[2])) for row in rows}

    def helpful_rates(self, *, by_day: bool = True, since: str | None = None) -> list[HelpfulRate]:
        """Suggestions made and answers given per day (or overall), oldest first; read from the
        trigger-kept daily totals (see `SQLiteLessonsJournal.helpful_rates`)."""
        where = "WHERE day >= substr(?, 1, 10)" if since else ""
        args = (since,) if since else ()
        with self._db.read() as conn:
            if by_day:
                rows = conn.execute(
                    f"SELECT day, suggested, helpful, not_relevant FROM lessons_daily {where}"
                    f" {'AND' if since else 'WHERE'} suggested + helpful + not_relevant > 0"
                    " ORDER BY day",
                    args,
                ).fetchall()
                return [HelpfulRate(*row) for row in rows]
            total = conn.execute(
                "SELECT coalesce(sum(suggested), 0), coalesce(sum(helpful), 0),"
                f" coalesce(sum(not_relevant), 0) FROM lessons_daily {where}",
                args,
            ).fetchone()
        counts = tuple(int(value) for value in total)
        return [HelpfulRate("all", *counts)] if any(counts) else []

    # -- seeds

    def seed(self, project_key: str) -> SeedRecord | None:
        with self._db.read() as conn:
            row = conn.execute(
                "SELECT project_key, issue_key, mode, lesson_ids, created_at FROM lessons_seeds"
                " WHERE project_key = ?",
                (project_key,),
            ).fetchone()
        if row is None:
            return None
        return SeedRecord(row[0], row[1], row[2], tuple(json.loads(row[3])), row[4])

    def record_seed(
        self, project_key: str, issue_key: str, mode: str, lesson_ids: Sequence[str]
    ) -> None:
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO lessons_seeds (project_key, issue_key, mode, lesson_ids, created_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (project_key) DO NOTHING",
                (project_key, issue_key, mode, json.dumps(list(lesson_ids)), self._now()),
            )

    # -- captures

    def capture_sha(self, issue_key: str) -> str | None:
        with self._db.read() as conn:
            row = conn.execute(
                "SELECT content_sha FROM lessons_captures WHERE issue_key = ?", (issue_key,)
            ).fetchone()
        return row[0] if row else None

    def record_capture(self, issue_key: str, source: str, content_sha: str, lessons: int) -> None:
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO lessons_captures (issue_key, source, content_sha, lessons,"
                " captured_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (issue_key) DO UPDATE SET source = excluded.source,"
                " content_sha = excluded.content_sha, lessons = excluded.lessons,"
                " captured_at = excluded.captured_at",
                (issue_key, source, content_sha, lessons, self._now()),
            )

    def issues_suggested(self, lesson_id: str, limit: int = 20) -> list[str]:
        """The issues a lesson was suggested on, most recent first."""
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT issue_key FROM lessons_suggestions WHERE lesson_id = ?"
                " ORDER BY first_at DESC LIMIT ?",
                (lesson_id, limit),
            ).fetchall()
        return [row[0] for row in rows]

    def move_lesson(self, from_id: str, to_id: str) -> int:
        """After a merge: `from_id`'s suggestions and feedback now count for `to_id`.

        Where both lessons have a row for the same issue, `to_id`'s own row wins and the other
        is dropped. Idempotent; returns the rows moved.
        """
        moved = 0
        with self._db.write() as conn:
            for table in ("lessons_suggestions", "lessons_feedback"):
                cursor = conn.execute(
                    f"UPDATE {table} AS moving SET lesson_id = ? WHERE lesson_id = ?"
                    f" AND NOT EXISTS (SELECT 1 FROM {table} kept"
                    " WHERE kept.issue_key = moving.issue_key AND kept.lesson_id = ?)",
                    (to_id, from_id, to_id),
                )
                moved += cursor.rowcount
                conn.execute(f"DELETE FROM {table} WHERE lesson_id = ?", (from_id,))
        return moved
