"""The lessons features' own tables in the shared SQLite database: the suggestion journal.

What was suggested where, which comment carries it, what people answered, which projects were
seeded and which retrospective issues were captured. Callers depend on the `LessonsJournal`
Protocol; `SQLiteLessonsJournal` is the implementation, which opens, locks and migrates through
`kb.database.StoreConnection` like every store (docs/storage.md). Schema changes are numbered
migrations.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import wraps
from pathlib import Path
from typing import Protocol, TypeVar

import sqlite_utils

from kb.clock import SYSTEM_CLOCK, Clock
from kb.database import StoreConnection
from plugin.lessons.schema import MIGRATIONS
from plugin.lessons.signing import Answer

T = TypeVar("T")


def _read(method: Callable[..., T]) -> Callable[..., T]:
    """Run a journal read in one read transaction: one snapshot, whichever thread asks."""

    @wraps(method)
    def in_snapshot(self: SQLiteLessonsJournal, *args: object, **kwargs: object) -> T:
        with self._db.read():
            return method(self, *args, **kwargs)

    return in_snapshot


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


class SQLiteLessonsJournal:
    """The journal in the shared SQLite file; every write is one short write transaction."""

    def __init__(self, db: str | Path | StoreConnection, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self._db = db if isinstance(db, StoreConnection) else StoreConnection(db)
        self._sql = sqlite_utils.Database(self._db.conn)  # dict rows over the same connection
        self._clock = clock
        self._db.migrate(MIGRATIONS)

    def _now(self) -> str:
        return self._clock.now().isoformat(timespec="seconds")

    # -- the suggestion comment ------------------------------------------------------------

    @_read
    def suggestion_comment(self, issue_key: str) -> SuggestionComment | None:
        rows = list(
            self._sql.query(
                "SELECT * FROM lessons_suggestion_comments WHERE issue_key = ?", [issue_key]
            )
        )
        if not rows:
            return None
        row = rows[0]
        return SuggestionComment(
            issue_key=row["issue_key"],
            comment_id=row["comment_id"],
            body_sha=row["body_sha"],
            first_at=datetime.fromisoformat(row["first_at"]),
            updated_at=datetime.fromisoformat(row["updated_at"]),
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
        with self._db.write():
            self._sql.execute(
                """INSERT INTO lessons_suggestion_comments
                       (issue_key, project, comment_id, body_sha, first_at, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?)
                   ON CONFLICT (issue_key) DO UPDATE SET comment_id = excluded.comment_id,
                       body_sha = excluded.body_sha, updated_at = excluded.updated_at""",
                [
                    issue_key,
                    project,
                    comment_id,
                    sha256(body),
                    first_at.isoformat(timespec="seconds"),
                    now,
                ],
            )
            self._sql.execute(
                "UPDATE lessons_suggestions SET active = 0 WHERE issue_key = ?", [issue_key]
            )
            for position, (lesson_id, similarity, score) in enumerate(suggested, start=1):
                self._sql.execute(
                    """INSERT INTO lessons_suggestions (issue_key, lesson_id, project, similarity,
                           score, position, active, first_at, last_at)
                       VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?)
                       ON CONFLICT (issue_key, lesson_id) DO UPDATE SET
                           similarity = excluded.similarity, score = excluded.score,
                           position = excluded.position, active = 1, last_at = excluded.last_at""",
                    [issue_key, lesson_id, project, similarity, score, position, now, now],
                )

    @_read
    def suggestions(self, issue_key: str, *, active_only: bool = True) -> list[SuggestedLesson]:
        rows = self._sql.query(
            f"""SELECT s.*, f.answer FROM lessons_suggestions s
                LEFT JOIN lessons_feedback f
                  ON f.issue_key = s.issue_key AND f.lesson_id = s.lesson_id
                WHERE s.issue_key = ? {"AND s.active = 1" if active_only else ""}
                ORDER BY s.active DESC, s.position""",
            [issue_key],
        )
        return [
            SuggestedLesson(
                issue_key=row["issue_key"],
                lesson_id=row["lesson_id"],
                similarity=row["similarity"],
                score=row["score"],
                position=row["position"],
                active=bool(row["active"]),
                answer=row["answer"],
            )
            for row in rows
        ]

    @_read
    def project_suggestions(self, project: str, *, limit: int = 50) -> list[SuggestedLesson]:
        """The lessons suggested on a project's issues, most recent first, with any answer.

        Reads every suggestion row (one per issue and lesson; no project index): a few
        milliseconds per ten thousand suggestions.
        """
        rows = self._sql.query(
            """SELECT s.*, f.answer FROM lessons_suggestions s
                LEFT JOIN lessons_feedback f
                  ON f.issue_key = s.issue_key AND f.lesson_id = s.lesson_id
                WHERE s.project = ? COLLATE NOCASE
                ORDER BY s.last_at DESC, s.issue_key, s.position LIMIT ?""",
            [project, limit],
        )
        return [
            SuggestedLesson(
                issue_key=row["issue_key"],
                lesson_id=row["lesson_id"],
                similarity=row["similarity"],
                score=row["score"],
                position=row["position"],
                active=bool(row["active"]),
                answer=row["answer"],
                last_at=row["last_at"],
            )
            for row in rows
        ]

    @_read
    def was_suggested(self, issue_key: str, lesson_id: str) -> bool:
        rows = self._sql.query(
            "SELECT 1 FROM lessons_suggestions WHERE issue_key = ? AND lesson_id = ?",
            [issue_key, lesson_id],
        )
        return any(True for _ in rows)

    # -- feedback --------------------------------------------------------------------------

    def record_feedback(self, issue_key: str, lesson_id: str, answer: Answer) -> bool:
        """Store the latest answer about a lesson on an issue; False if it was already that."""
        with self._db.write():
            project = next(
                (
                    row["project"]
                    for row in self._sql.query(
                        "SELECT project FROM lessons_suggestion_comments WHERE issue_key = ?",
                        [issue_key],
                    )
                ),
                issue_key.rsplit("-", 1)[0] if "-" in issue_key else None,
            )
            before = list(
                self._sql.query(
                    "SELECT answer FROM lessons_feedback WHERE issue_key = ? AND lesson_id = ?",
                    [issue_key, lesson_id],
                )
            )
            if before and before[0]["answer"] == answer:
                return False
            self._sql.execute(
                """INSERT INTO lessons_feedback (issue_key, lesson_id, project, answer, answered_at)
                   VALUES (?, ?, ?, ?, ?)
                   ON CONFLICT (issue_key, lesson_id) DO UPDATE SET answer = excluded.answer,
                       answered_at = excluded.answered_at""",
                [issue_key, lesson_id, project, answer, self._now()],
            )
        return True

    @_read
    def dismissed(self, issue_key: str) -> frozenset[str]:
        """Lessons someone marked not relevant on this issue: never suggested there again."""
        rows = self._sql.query(
            "SELECT lesson_id FROM lessons_feedback WHERE issue_key = ? AND answer = ?",
            [issue_key, "not_relevant"],
        )
        return frozenset(row["lesson_id"] for row in rows)

    @_read
    def tallies(self, lesson_ids: Iterable[str]) -> dict[str, FeedbackTally]:
        """Answers per lesson, for the given lessons (absent lessons have none)."""
        ids = list(dict.fromkeys(lesson_ids))
        found: dict[str, FeedbackTally] = {}
        for start in range(0, len(ids), 500):  # stay under SQLite's variable limit
            batch = ids[start : start + 500]
            marks = ",".join("?" * len(batch))
            for row in self._sql.query(
                f"""SELECT lesson_id, SUM(answer = 'helpful') AS helpful,
                           SUM(answer = 'not_relevant') AS not_relevant
                    FROM lessons_feedback WHERE lesson_id IN ({marks}) GROUP BY lesson_id""",
                batch,
            ):
                found[row["lesson_id"]] = FeedbackTally(row["helpful"], row["not_relevant"])
        return found

    @_read
    def helpful_rates(self, *, by_day: bool = True, since: str | None = None) -> list[HelpfulRate]:
        """Suggestions made and answers given per day (or overall), oldest first.

        `since` is a day (YYYY-MM-DD; a longer timestamp counts from its day). Read from the
        trigger-kept daily totals: one row per day, however many suggestions were made.
        """
        where = "WHERE day >= substr(?, 1, 10)" if since else ""
        args = [since] if since else []
        if by_day:
            rows = self._db.conn.execute(
                f"""SELECT day, suggested, helpful, not_relevant FROM lessons_daily {where}
                    {"AND" if since else "WHERE"} suggested + helpful + not_relevant > 0
                    ORDER BY day""",
                args,
            ).fetchall()
            return [HelpfulRate(*row) for row in rows]
        total = self._db.conn.execute(
            f"""SELECT coalesce(sum(suggested), 0), coalesce(sum(helpful), 0),
                       coalesce(sum(not_relevant), 0) FROM lessons_daily {where}""",
            args,
        ).fetchone()
        return [HelpfulRate("all", *total)] if any(total) else []

    # -- seeds -----------------------------------------------------------------------------

    @_read
    def seed(self, project_key: str) -> SeedRecord | None:
        rows = list(
            self._sql.query("SELECT * FROM lessons_seeds WHERE project_key = ?", [project_key])
        )
        if not rows:
            return None
        row = rows[0]
        return SeedRecord(
            row["project_key"],
            row["issue_key"],
            row["mode"],
            tuple(json.loads(row["lesson_ids"])),
            row["created_at"],
        )

    def record_seed(
        self, project_key: str, issue_key: str, mode: str, lesson_ids: Sequence[str]
    ) -> None:
        with self._db.write():
            self._sql.execute(
                """INSERT OR IGNORE INTO lessons_seeds
                       (project_key, issue_key, mode, lesson_ids, created_at)
                   VALUES (?, ?, ?, ?, ?)""",
                [project_key, issue_key, mode, json.dumps(list(lesson_ids)), self._now()],
            )

    # -- captures --------------------------------------------------------------------------

    @_read
    def capture_sha(self, issue_key: str) -> str | None:
        rows = list(
            self._sql.query(
                "SELECT content_sha FROM lessons_captures WHERE issue_key = ?", [issue_key]
            )
        )
        return rows[0]["content_sha"] if rows else None

    def record_capture(self, issue_key: str, source: str, content_sha: str, lessons: int) -> None:
        with self._db.write():
            self._sql.execute(
                """INSERT INTO lessons_captures (issue_key, source, content_sha, lessons,
                       captured_at) VALUES (?, ?, ?, ?, ?)
                   ON CONFLICT (issue_key) DO UPDATE SET source = excluded.source,
                       content_sha = excluded.content_sha, lessons = excluded.lessons,
                       captured_at = excluded.captured_at""",
                [issue_key, source, content_sha, lessons, self._now()],
            )

    @_read
    def issues_suggested(self, lesson_id: str, limit: int = 20) -> list[str]:
        """The issues a lesson was suggested on, most recent first."""
        rows = self._sql.query(
            "SELECT issue_key FROM lessons_suggestions WHERE lesson_id = ? "
            "ORDER BY first_at DESC LIMIT ?",
            [lesson_id, limit],
        )
        return [row["issue_key"] for row in rows]

    def move_lesson(self, from_id: str, to_id: str) -> int:
        """After a merge: `from_id`'s suggestions and feedback now count for `to_id`.

        Where both lessons have a row for the same issue, `to_id`'s own row wins and the other
        is dropped. Idempotent; returns the rows moved.
        """
        moved = 0
        with self._db.write() as conn:
            for table in ("lessons_suggestions", "lessons_feedback"):
                cursor = conn.execute(
                    f"UPDATE OR IGNORE {table} SET lesson_id = ? WHERE lesson_id = ?",
                    [to_id, from_id],
                )
                moved += cursor.rowcount
                conn.execute(f"DELETE FROM {table} WHERE lesson_id = ?", [from_id])
        return moved
