"""PostgreSQL as the shared store (HINDSIGHT_DB=postgresql://...): how a store connects, locks,
migrates and writes there.

The counterpart of `kb.database` for several machines (issue 14, docs/storage.md): one
`PostgresConnection` per store object (a small pool: a connection per thread for the length of a
transaction), with the same `write()` / `read()` / `migrate()` / `can_write()` shape as
`StoreConnection`, so a store's PostgreSQL implementation reads like its SQLite one. psycopg
(v3) is an optional dependency (`hindsight[postgres]`), imported only when a connection opens.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from kb.errors import StoreUnavailableError

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
        """The password the URL holds, decoded (`p%40ss` is `p@ss`), or None."""
        password = urlsplit(self.dsn).password
        return None if password is None else unquote(password)

    def with_password(self, password: str) -> PostgresURL:
        """This URL with `password` in it (percent-encoded), for a URL that names its user and
        holds no password: the password read from a file (`db_password_file`)."""
        userinfo, at, hosts = urlsplit(self.dsn).netloc.rpartition("@")
        if not at or not userinfo or ":" in userinfo:
            raise ValueError("the URL must name its user and hold no password")
        netloc = f"{userinfo}:{quote(password, safe='')}@{hosts}"
        return PostgresURL(urlunsplit(urlsplit(self.dsn)._replace(netloc=netloc)))

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
        return self.raw.execute(qmark(sql), params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> psycopg.Cursor:
        cursor = self.raw.cursor()
        cursor.executemany(qmark(sql), rows)
        return cursor


def qmark(sql: str) -> str:
    """`sql` with psycopg's `%s` placeholders for SQLite's `?` (and `%` escaped)."""
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
    """One store object's connections to the shared PostgreSQL database, for any thread.

    Unlike SQLite's single writer, PostgreSQL lets transactions run side by side, so each thread
    takes a connection of its own from a small pool (`max_connections`, opened when first
    needed) for the length of one transaction. `write()` is a READ COMMITTED transaction
    (callers lock what they change: `FOR UPDATE`, advisory locks); `read()` is a REPEATABLE
    READ, READ ONLY transaction, so every statement inside sees one snapshot. Both nest within
    a thread as `StoreConnection`'s do, and a write may not start inside a read. A connection
    that broke (server restart, failover) is dropped when its transaction ends; the next
    transaction opens a fresh one.
    """

    def __init__(self, url: str, *, lock_timeout: float = 30.0, max_connections: int = 8) -> None:
        if importlib.util.find_spec("psycopg") is None:
            raise StoreUnavailableError(
                "db is a PostgreSQL URL but its driver is not installed:"
                " pip install 'hindsight[postgres]'"
            )
        self.url = PostgresURL(url)
        self._lock_timeout = lock_timeout
        self._slots = threading.BoundedSemaphore(max_connections)
        self._idle: list[psycopg.Connection] = []
        self._idle_lock = threading.Lock()
        self._local = threading.local()
        self._closed = False

    def _open(self) -> psycopg.Connection:
        import psycopg

        try:
            conn = psycopg.connect(
                self.url.dsn, autocommit=True, connect_timeout=10, application_name="hindsight"
            )
        except psycopg.OperationalError as error:
            # At start or while serving (the server restarts, fails over): callers answer
            # with what to check (the CLI) or a 503 (the webhook endpoint), never a traceback.
            raise self._unreachable(error) from error
        # Waiting for a row or advisory lock longer than this is a fault, as SQLite's busy
        # timeout is: the transaction fails instead of hanging.
        conn.execute(f"SET lock_timeout = {int(self._lock_timeout * 1000)}")
        return conn

    def _checkout(self) -> psycopg.Connection:
        if self._closed:
            raise RuntimeError("this store's connections are closed")
        if not self._slots.acquire(timeout=self._lock_timeout):
            raise TimeoutError(f"no database connection free within {self._lock_timeout:.0f} s")
        try:
            with self._idle_lock:
                while self._idle:
                    conn = self._idle.pop()
                    if not (conn.closed or conn.broken):
                        return conn
            return self._open()
        except BaseException:
            self._slots.release()
            raise

    def _checkin(self, conn: psycopg.Connection) -> None:
        try:
            if self._closed or conn.closed or conn.broken:
                conn.close()
            else:
                with self._idle_lock:
                    self._idle.append(conn)
        finally:
            self._slots.release()

    @contextmanager
    def _transaction(self, mode: str) -> Iterator[QmarkConnection]:
        local = self._local
        current: psycopg.Connection | None = getattr(local, "conn", None)
        if current is not None:
            if mode == "write" and local.mode != "write":
                raise RuntimeError("a write cannot start inside a read transaction")
            yield QmarkConnection(current)
            return
        import psycopg

        conn = self._checkout()
        local.conn, local.mode = conn, mode
        try:
            with conn.transaction():
                if mode == "read":
                    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                yield QmarkConnection(conn)
        except psycopg.OperationalError as error:
            if conn.broken:  # the server went away (restart, failover): not the statement's fault
                raise self._unreachable(error) from error
            raise
        finally:
            local.conn = local.mode = None
            self._checkin(conn)

    def write(self) -> AbstractContextManager[QmarkConnection]:
        """A write transaction: committed on leaving, rolled back on any exception."""
        return self._transaction("write")

    def read(self) -> AbstractContextManager[QmarkConnection]:
        """A read transaction: one snapshot for every statement inside; writes nothing."""
        return self._transaction("read")

    def migrate(self, migrations: PostgresMigrations) -> list[str]:
        """Apply the steps of `migrations` not applied yet; returns their names.

        Each step runs in its own transaction holding `MIGRATION_LOCK`, and re-checks under it
        that no other process applied the step meanwhile. `StoreUnavailableError`, saying what
        to check, when the database cannot be reached.
        """
        import psycopg

        try:
            return self._migrate(migrations)
        except psycopg.OperationalError as error:  # the connection dropped during a step
            raise self._unreachable(error) from error

    def _unreachable(self, error: Exception) -> StoreUnavailableError:
        """The server, the database, the user or the password is wrong, or the server is
        down: say so, and what to check, instead of a driver traceback."""
        reason = (str(error).strip() or type(error).__name__).splitlines()[0]
        return StoreUnavailableError(
            f"cannot reach the PostgreSQL database {self.url}: {reason}; check that the"
            " server runs, that the db setting (HINDSIGHT_DB) names it and its user, and"
            " that the password (in the URL, or the file HINDSIGHT_DB_PASSWORD_FILE names)"
            " is that user's"
        )

    def _migrate(self, migrations: PostgresMigrations) -> list[str]:
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
        except (psycopg.Error, StoreUnavailableError):
            return False
        return row is not None and not row[0]

    def close(self) -> None:
        """Close the idle connections; one in use closes when its transaction ends."""
        self._closed = True
        with self._idle_lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
