"""The lessons features' own tables in the shared SQLite database: the suggestion journal.

What was suggested where, which comment carries it, what people answered, which projects were
seeded and which retrospective issues were captured. Callers depend on the `LessonsJournal`
Protocol. Its queries live once, in `SQLLessonsJournal`; `SQLiteLessonsJournal` opens, locks and
migrates through `kb.database.StoreConnection` like every store (docs/storage.md), and
`plugin.lessons.journal_postgres.PostgresLessonsJournal` keeps only what PostgreSQL does
differently (its schema and triggers). Schema changes are numbered migrations.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from kb.clock import SYSTEM_CLOCK, Clock
from kb.database import StoreConnection
from kb.postgres import PostgresConnection, PostgresURL
from plugin.lessons.schema import MIGRATIONS
from plugin.lessons.signing import Answer


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class SuggestionComment:
    """The one suggestion comment Hindsight keeps on an issue."""

    issue_key: str
    comment_id: str | None
    body_sha: str
    first_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class FeedbackTally:
    """Answers about one lesson across every issue it was suggested on."""

    helpful: int = 0
    not_relevant: int = 0


@dataclass(frozen=True)
class SuggestedLesson:
    """A lesson suggested on an issue, as recorded."""

    issue_key: str
    lesson_id: str
    similarity: float
    score: float
    position: int
    active: bool
    answer: Answer | None
    last_at: str | None = None  # when it was last (re)suggested, ISO 8601


@dataclass(frozen=True)
class HelpfulRate:
    """Suggestion outcomes over one period (a day, or all time)."""

    period: str
    suggested: int
    helpful: int
    not_relevant: int

    @property
    def answered(self) -> int:
        return self.helpful + self.not_relevant

    @property
    def rate(self) -> float | None:
        """Share of answers that said helpful; None before anyone answered."""
        return self.helpful / self.answered if self.answered else None


@dataclass(frozen=True)
class SeedRecord:
    project_key: str
    issue_key: str
    mode: str
    lesson_ids: tuple[str, ...]
    created_at: str


class LessonsJournal(Protocol):
    """What suggest, seed, capture and the pages need of the journal, whatever database holds it."""

    def suggestion_comment(self, issue_key: str) -> SuggestionComment | None: ...
    def record_suggestions(
        self,
        issue_key: str,
        project: str | None,
        comment_id: str | None,
        body: str,
        first_at: datetime,
        suggested: Sequence[tuple[str, float, float]],
    ) -> None: ...
    def suggestions(self, issue_key: str, *, active_only: bool = True) -> list[SuggestedLesson]: ...
    def project_suggestions(self, project: str, *, limit: int = 50) -> list[SuggestedLesson]: ...
    def was_suggested(self, issue_key: str, lesson_id: str) -> bool: ...
    def record_feedback(self, issue_key: str, lesson_id: str, answer: Answer) -> bool: ...
    def dismissed(self, issue_key: str) -> frozenset[str]: ...
    def tallies(self, lesson_ids: Iterable[str]) -> dict[str, FeedbackTally]: ...
    def helpful_rates(
        self, *, by_day: bool = True, since: str | None = None
    ) -> list[HelpfulRate]: ...
    def seed(self, project_key: str) -> SeedRecord | None: ...
    def record_seed(
        self, project_key: str, issue_key: str, mode: str, lesson_ids: Sequence[str]
    ) -> None: ...
    def capture_sha(self, issue_key: str) -> str | None: ...
    def record_capture(
        self, issue_key: str, source: str, content_sha: str, lessons: int
    ) -> None: ...
    def issues_suggested(self, lesson_id: str, limit: int = 20) -> list[str]: ...
    def move_lesson(self, from_id: str, to_id: str) -> int: ...


class SQLLessonsJournal:
    """The journal's reads and writes, in SQL both engines run (`?` placeholders, upserts).

    Subclasses open the connection (a `StoreConnection` or a `kb.postgres.PostgresConnection`)
    and own the schema with its trigger-kept daily totals: `SQLiteLessonsJournal` here,
    `PostgresLessonsJournal` in plugin.lessons.journal_postgres. Every write is one short write
    transaction; every read of several rows one snapshot.
    """

    _db: StoreConnection | PostgresConnection

    def __init__(self, db: StoreConnection | PostgresConnection, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    def close(self) -> None:
        self._db.close()

    def _now(self) -> str:
        return self._clock.now().isoformat(timespec="seconds")

    # -- the suggestion comment ------------------------------------------------------------

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
                f"SELECT {_SUGGESTED} FROM lessons_suggestions s LEFT JOIN lessons_feedback f"
                " ON f.issue_key = s.issue_key AND f.lesson_id = s.lesson_id"
                f" WHERE s.issue_key = ? {'AND s.active = 1' if active_only else ''}"
                " ORDER BY s.active DESC, s.position",
                (issue_key,),
            ).fetchall()
        return [_suggested(row) for row in rows]

    def project_suggestions(self, project: str, *, limit: int = 50) -> list[SuggestedLesson]:
        """The lessons suggested on a project's issues, most recent first, with any answer.

        The project key matches in any case. Reads every suggestion row (one per issue and
        lesson; no project index): a few milliseconds per ten thousand suggestions.
        """
        with self._db.read() as conn:
            rows = conn.execute(
                f"SELECT {_SUGGESTED} FROM lessons_suggestions s LEFT JOIN lessons_feedback f"
                " ON f.issue_key = s.issue_key AND f.lesson_id = s.lesson_id"
                " WHERE upper(s.project) = upper(?)"
                " ORDER BY s.last_at DESC, s.issue_key, s.position LIMIT ?",
                (project, limit),
            ).fetchall()
        return [_suggested(row) for row in rows]

    def was_suggested(self, issue_key: str, lesson_id: str) -> bool:
        with self._db.read() as conn:
            row = conn.execute(
                "SELECT 1 FROM lessons_suggestions WHERE issue_key = ? AND lesson_id = ?",
                (issue_key, lesson_id),
            ).fetchone()
        return row is not None

    # -- feedback --------------------------------------------------------------------------

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
            # One statement decides: an answer equal to the stored one changes no row, also
            # when two machines store the same click at once (the second waits, then sees it).
            cursor = conn.execute(
                "INSERT INTO lessons_feedback (issue_key, lesson_id, project, answer, answered_at)"
                " VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (issue_key, lesson_id) DO UPDATE SET answer = excluded.answer,"
                " answered_at = excluded.answered_at"
                " WHERE lessons_feedback.answer <> excluded.answer",
                (issue_key, lesson_id, project, answer, self._now()),
            )
        return cursor.rowcount == 1

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
        found: dict[str, FeedbackTally] = {}
        with self._db.read() as conn:
            for start in range(0, len(ids), 500):  # stay under SQLite's variable limit
                batch = ids[start : start + 500]
                rows = conn.execute(
                    "SELECT lesson_id, count(CASE WHEN answer = 'helpful' THEN 1 END),"
                    " count(CASE WHEN answer = 'not_relevant' THEN 1 END)"
                    f" FROM lessons_feedback WHERE lesson_id IN ({','.join('?' * len(batch))})"
                    " GROUP BY lesson_id",
                    batch,
                ).fetchall()
                for lesson_id, helpful, not_relevant in rows:
                    found[lesson_id] = FeedbackTally(int(helpful), int(not_relevant))
        return found

    def helpful_rates(self, *, by_day: bool = True, since: str | None = None) -> list[HelpfulRate]:
        """Suggestions made and answers given per day (or overall), oldest first.

        `since` is a day (YYYY-MM-DD; a longer timestamp counts from its day). Read from the
        trigger-kept daily totals: one row per day, however many suggestions were made.
        """
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

    # -- seeds -----------------------------------------------------------------------------

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
        """Remember a project's seed; the first seed of a project stands."""
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO lessons_seeds (project_key, issue_key, mode, lesson_ids, created_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (project_key) DO NOTHING",
                (project_key, issue_key, mode, json.dumps(list(lesson_ids)), self._now()),
            )

    # -- captures --------------------------------------------------------------------------

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


class SQLiteLessonsJournal(SQLLessonsJournal):
    """The journal in the shared SQLite file (its schema: plugin.lessons.schema)."""

    _db: StoreConnection

    def __init__(self, db: str | Path | StoreConnection, *, clock: Clock = SYSTEM_CLOCK) -> None:
        super().__init__(db if isinstance(db, StoreConnection) else StoreConnection(db), clock)
        self._db.migrate(MIGRATIONS)


def open_lessons_journal(
    location: str | Path | PostgresURL, *, clock: Clock = SYSTEM_CLOCK
) -> LessonsJournal:
    """The journal where `HINDSIGHT_DB` says: a SQLite file, or a PostgreSQL database.

    The one place that names the implementations: the composition root passes the configured
    location here.
    """
    if isinstance(location, PostgresURL):
        from plugin.lessons.journal_postgres import PostgresLessonsJournal

        return PostgresLessonsJournal(location, clock=clock)
    return SQLiteLessonsJournal(location, clock=clock)


# A suggestion row with its answer, as `_suggested` reads it.
_SUGGESTED = (
    "s.issue_key, s.lesson_id, s.similarity, s.score, s.position, s.active, f.answer, s.last_at"
)


def _suggested(row: Sequence[Any]) -> SuggestedLesson:
    issue_key, lesson_id, similarity, score, position, active, answer, last_at = row
    return SuggestedLesson(
        issue_key, lesson_id, similarity, score, position, bool(active), answer, last_at
    )
