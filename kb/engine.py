"""The lesson store's two engines: what differs between a SQLite file and a PostgreSQL database.

`LessonStore` and its modules (`kb.reads`, `kb.writes`, `kb.ranking`, `kb.curation`,
`kb.actions`) write their SQL once, with `?` placeholders, `INSERT ... ON CONFLICT` and
`RETURNING`, which both engines run. The few spellings that differ (a case-insensitive
comparison, a field of a JSON column, a joined list), the schema, the write lock and how a large
result is streamed live here, one class per engine; `open_engine` picks one from the location.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from kb.database import StoreConnection
from kb.postgres import SCHEMES, PostgresConnection, PostgresURL, qmark
from kb.vectors import plain_batches

if TYPE_CHECKING:
    from kb.keyword import KeywordIndex
    from kb.postgres import QmarkConnection

    SQLConnection = sqlite3.Connection | QmarkConnection
else:
    SQLConnection = Any

# Every lesson write takes this transaction-scoped advisory lock first, as SQLite's
# `BEGIN IMMEDIATE` takes the file's write lock: a source's read-then-replace is never stale and
# two ingests on different machines queue instead of interleaving.
WRITE_LOCK = "hindsight kb writes"


class KbEngine(Protocol):
    """What the lesson store asks of its database engine."""

    name: str
    db: StoreConnection | PostgresConnection

    def migrate(self) -> list[str]: ...

    def keyword_index(self) -> KeywordIndex: ...

    def lock_for_write(self, conn: SQLConnection) -> None: ...

    def reserve_pks(self, conn: SQLConnection, count: int) -> list[int]: ...

    def pipeline(self, conn: SQLConnection) -> AbstractContextManager[object]: ...

    def nocase_equals(self, column: str) -> str: ...

    def json_field(self, column: str, key: str) -> str: ...

    def joined_distinct(self, column: str) -> str: ...

    def batches(
        self, conn: SQLConnection, sql: str, args: Sequence[Any], size: int
    ) -> Iterator[list[Any]]: ...

    def close(self) -> None: ...


class SQLiteEngine:
    """The embedded default: one SQLite file (or ":memory:"), FTS5 and WAL."""

    name = "sqlite"

    def __init__(self, path: str | Path) -> None:
        # The storage convention (docs/storage.md): one connection shared by threads, one lock;
        # the lesson store's ingest holds the write lock longest, hence the longer busy timeout.
        self.db = StoreConnection(path, timeout=60)

    def migrate(self) -> list[str]:
        from kb.schema import MIGRATIONS

        return self.db.migrate(MIGRATIONS)

    def keyword_index(self) -> KeywordIndex:
        from kb.keyword import SqliteKeywordIndex

        return SqliteKeywordIndex(self.db.conn)

    def lock_for_write(self, conn: SQLConnection) -> None:
        """Nothing to do: `BEGIN IMMEDIATE` took the file's write lock already."""

    def reserve_pks(self, conn: SQLConnection, count: int) -> list[int]:
        """`count` new lesson pks: the ones SQLite would give (the writer is alone)."""
        (last,) = conn.execute("SELECT coalesce(max(pk), 0) FROM lessons").fetchone()
        return list(range(last + 1, last + 1 + count))

    def pipeline(self, conn: SQLConnection) -> AbstractContextManager[object]:
        """Nothing to batch: SQLite runs in this process."""
        return nullcontext()

    def nocase_equals(self, column: str) -> str:
        return f"{column} = ? COLLATE NOCASE"

    def json_field(self, column: str, key: str) -> str:
        return f"json_extract({column}, '$.{key}')"

    def joined_distinct(self, column: str) -> str:
        return f"group_concat(DISTINCT {column})"

    def batches(
        self, conn: SQLConnection, sql: str, args: Sequence[Any], size: int
    ) -> Iterator[list[Any]]:
        """The rows of `sql`, `size` at a time (SQLite steps through them as they are read)."""
        return plain_batches(conn, sql, args, size)

    def close(self) -> None:
        self.db.close()


class PostgresEngine:
    """A PostgreSQL database every machine shares (HINDSIGHT_DB=postgresql://...)."""

    name = "postgresql"

    def __init__(self, url: str) -> None:
        self.db = PostgresConnection(url, lock_timeout=60)

    def migrate(self) -> list[str]:
        from kb.schema_postgres import MIGRATIONS

        return self.db.migrate(MIGRATIONS)

    def keyword_index(self) -> KeywordIndex:
        from kb.keyword_postgres import PostgresKeywordIndex

        return PostgresKeywordIndex(self.db)

    def lock_for_write(self, conn: SQLConnection) -> None:
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(?))", (WRITE_LOCK,))

    def reserve_pks(self, conn: SQLConnection, count: int) -> list[int]:
        """`count` new lesson pks from the identity's sequence, in one round trip."""
        rows = conn.execute(
            "SELECT nextval(pg_get_serial_sequence('lessons', 'pk')) FROM generate_series(1, ?)",
            (count,),
        ).fetchall()
        return [pk for (pk,) in rows]

    def pipeline(self, conn: SQLConnection) -> AbstractContextManager[object]:
        """Statements inside are sent without waiting for each answer (libpq's pipeline
        mode); their errors are raised on leaving. Read nothing back inside."""
        return conn.raw.pipeline()

    def nocase_equals(self, column: str) -> str:
        # SQLite's NOCASE folds ASCII letters only, lower() every letter of the database's
        # locale: alike for project keys (Jira keys are ASCII). The index `lower(column)`
        # serves it.
        return f"lower({column}) = lower(?)"

    def json_field(self, column: str, key: str) -> str:
        return f"(({column})::jsonb ->> '{key}')"

    def joined_distinct(self, column: str) -> str:
        return f"string_agg(DISTINCT {column}, ',')"

    def batches(
        self, conn: SQLConnection, sql: str, args: Sequence[Any], size: int
    ) -> Iterator[list[Any]]:
        """The rows of `sql`, `size` at a time, through a server-side cursor in binary form.

        A client-side cursor would hold the whole result (the vectors: hundreds of MB at 100k
        lessons) in memory before the first row; the caller's transaction bounds the cursor.
        """
        with conn.raw.cursor(name=f"kb_{uuid.uuid4().hex}", binary=True) as cursor:
            cursor.itersize = size
            cursor.execute(qmark(sql), args)
            while batch := cursor.fetchmany(size):
                yield batch

    def close(self) -> None:
        self.db.close()


def is_postgres(location: str | Path) -> bool:
    """Whether `location` names a PostgreSQL database rather than a SQLite file."""
    return isinstance(location, PostgresURL) or (
        isinstance(location, str) and location.split("://", 1)[0] in SCHEMES and "://" in location
    )


def open_engine(location: str | Path) -> KbEngine:
    """The engine `location` names: a `postgresql://` URL, else a SQLite file (or ":memory:")."""
    if is_postgres(location):
        assert isinstance(location, str)
        return PostgresEngine(location)
    return SQLiteEngine(location)
