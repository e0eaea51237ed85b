"""PostgreSQL as the shared store (HINDSIGHT_DB=postgresql://...): how a store connects, locks,
migrates and writes there.

The counterpart of `kb.database` for several machines (issue 14, docs/storage.md): one
`PostgresConnection` per store object, guarded by one lock, with the same `write()` / `read()` /
`migrate()` / `can_write()` shape as `StoreConnection`, so a store's PostgreSQL implementation
reads like its SQLite one. psycopg (v3) is an optional dependency (`hindsight[postgres]`),
imported only when a connection is opened.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    import psycopg

SCHEMES = ("postgresql", "postgres")
# Every process takes this transaction-scoped advisory lock before it looks at the migrations
# table, so processes that start together apply each step once, one after the other.
MIGRATION_LOCK = "hindsight migrations"


class PostgresURL(str):
    """A `postgresql://user:password@host:port/database` URL (libpq's form), as given.

    Printed, formatted or repr'd it hides the password the URL may hold (`***`); `dsn` is the
    URL itself, for the driver only, and `password` is there for the log redactor.
    """

    def __new__(cls, value: str) -> PostgresURL:
        value = str.__str__(value)  # the URL itself, even from a PostgresURL (whose str hides)
        parts = urlsplit(value)
        if parts.scheme not in SCHEMES:
            raise ValueError(f"a PostgreSQL URL starts with postgresql://, not {parts.scheme}://")
        return super().__new__(cls, value)

    @property
    def dsn(self) -> str:
        return str.__str__(self)

    @property
    def password(self) -> str | None:
        return urlsplit(self.dsn).password

    @property
    def redacted(self) -> str:
        """The URL with its password replaced by `***`."""
        parts = urlsplit(self.dsn)
        if parts.password is None:
            return self.dsn
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return urlunsplit(parts._replace(netloc=netloc))

    def __str__(self) -> str:
        return self.redacted

    def __format__(self, spec: str) -> str:
        return format(self.redacted, spec)

    def __repr__(self) -> str:
        return f"PostgresURL({self.redacted!r})"


class QmarkConnection:
    """A psycopg connection that takes SQLite's `?` placeholders.

    The stores' portable statements (heartbeats, counters: plain SQL with `INSERT ... ON
    CONFLICT`) then run unchanged on both engines. A statement given here must not hold a `?`
    in a literal; `%` in literals is escaped.
    """

    def __init__(self, conn: psycopg.Connection) -> None:
        self.raw = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor:
        return self.raw.execute(_qmark(sql), params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> psycopg.Cursor:
        cursor = self.raw.cursor()
        cursor.executemany(_qmark(sql), rows)
        return cursor


def _qmark(sql: str) -> str:
    return sql.replace("%", "%%").replace("?", "%s")


@dataclass(frozen=True)
class PostgresMigrations:
    """A store's numbered schema steps on PostgreSQL: (name, SQL script) in order.

    Step names follow the store's SQLite set (`m001_...`), so one number means one schema change
    on both engines. DDL is transactional in PostgreSQL: a step applies whole or not at all.
    """

    name: str
    steps: tuple[tuple[str, str], ...]


class PostgresConnection:
    """One store object's connection to the shared PostgreSQL database; one thread at a time.

    `write()` is a READ COMMITTED transaction (callers lock what they change: `FOR UPDATE`,
    advisory locks); `read()` is a REPEATABLE READ, READ ONLY transaction, so every statement
    inside sees one snapshot. Both nest as `StoreConnection`'s do, and a write may not start
    inside a read. A broken connection (server restart, failover) is opened again on next use.
    """

    def __init__(self, url: str, *, lock_timeout: float = 30.0) -> None:
        self.url = PostgresURL(url)
        self.lock = threading.RLock()
        self._lock_timeout = lock_timeout
        self._conn: psycopg.Connection | None = None
        self._mode: str | None = None

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.broken or self._conn.closed:
            import psycopg

            self._conn = psycopg.connect(
                self.url.dsn, autocommit=True, connect_timeout=10, application_name="hindsight"
            )
            # Waiting for a row or advisory lock longer than this is a fault, as SQLite's busy
            # timeout is: the transaction fails instead of hanging.
            self._conn.execute(f"SET lock_timeout = {int(self._lock_timeout * 1000)}")
        return self._conn

    @contextmanager
    def write(self) -> Iterator[QmarkConnection]:
        """A write transaction: committed on leaving, rolled back on any exception."""
        with self.lock:
            if self._mode is not None:
                if self._mode != "write":
                    raise RuntimeError("a write cannot start inside a read transaction")
                yield QmarkConnection(self._connection())
                return
            conn = self._connection()
            self._mode = "write"
            try:
                with conn.transaction():
                    yield QmarkConnection(conn)
            finally:
                self._mode = None

    @contextmanager
    def read(self) -> Iterator[QmarkConnection]:
        """A read transaction: one snapshot for every statement inside; writes nothing."""
        with self.lock:
            if self._mode is not None:
                yield QmarkConnection(self._connection())
                return
            conn = self._connection()
            self._mode = "read"
            try:
                with conn.transaction():
                    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    yield QmarkConnection(conn)
            finally:
                self._mode = None

    def migrate(self, migrations: PostgresMigrations) -> list[str]:
        """Apply the steps of `migrations` not applied yet; returns their names.

        Each step runs in its own transaction holding `MIGRATION_LOCK`, and re-checks under it
        that no other process applied the step meanwhile.
        """
        applied: list[str] = []
        with self.write() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(?))", (MIGRATION_LOCK,))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS hindsight_migrations (migration_set TEXT NOT NULL,"
                " name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),"
                " PRIMARY KEY (migration_set, name))"
            )
        for name, script in migrations.steps:
            with self.write() as conn:
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(?))", (MIGRATION_LOCK,))
                done = conn.execute(
                    "SELECT 1 FROM hindsight_migrations WHERE migration_set = ? AND name = ?",
                    (migrations.name, name),
                ).fetchone()
                if done:
                    continue
                conn.raw.execute(script)  # no parameters: several statements in one call
                conn.execute(
                    "INSERT INTO hindsight_migrations (migration_set, name) VALUES (?, ?)",
                    (migrations.name, name),
                )
            applied.append(name)
        return applied

    def can_write(self) -> bool:
        """Could a write start now (for /readyz)? Asks the server; changes nothing.

        False when the server cannot be reached or is a read-only standby.
        """
        import psycopg

        try:
            with self.read() as conn:
                row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
        except psycopg.Error:
            return False
        return row is not None and not row[0]

    def close(self) -> None:
        with self.lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
