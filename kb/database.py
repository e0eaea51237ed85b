"""The one SQLite file Hindsight keeps: how every store opens it, locks it and evolves its schema.

Deliveries, the audit log, lessons and suggestion feedback share one database file, each area
owning its tables and its own `sqlite_utils.Migrations` set. This module is their single home for
the convention every store follows (docs/storage.md): one `StoreConnection` per store object
(WAL, busy timeout, one lock), writes in `BEGIN IMMEDIATE` transactions, multi-statement reads in
one read transaction, and migrations applied safely when several processes start at once
(gunicorn workers, `hindsight worker`).
"""

from __future__ import annotations

import datetime
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

Synchronous = Literal["normal", "full"]


def connect(
    path: str | Path, *, synchronous: Synchronous = "normal", timeout: float = 30.0
) -> sqlite3.Connection:
    """Open the database the way every part of Hindsight must: WAL, busy timeout, autocommit.

    With WAL, `synchronous=NORMAL` makes a commit a write() into the WAL without fsync: it
    survives the process being killed (the OS holds the data), though not a power loss;
    `full` adds an fsync per commit for that. The connection may be shared between threads
    by a caller that serialises its use.
    """
    memory = str(path) == ":memory:"
    if not memory:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(
        str(path), timeout=timeout, isolation_level=None, check_same_thread=False
    )
    conn.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
    if not memory:
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'full' else 'NORMAL'}")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection, *, immediate: bool = True) -> Iterator[None]:
    """BEGIN IMMEDIATE takes the write lock up front, so read-then-write is never stale."""
    conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
    try:
        yield
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def run_script(db: Database, script: str) -> None:
    """Run a schema script statement by statement inside the caller's transaction.

    `executescript` would COMMIT first and break the migration's atomicity; trigger bodies
    (`BEGIN ... END;`) stay whole because statements are cut where SQLite says one is complete.
    """
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            if pending.strip().strip(";").strip():
                db.execute(pending)
            pending = ""
    if pending.strip():
        raise ValueError(f"incomplete SQL statement at the end of a migration: {pending!r}")


def migrate(conn: sqlite3.Connection, migrations: Migrations) -> list[str]:
    """Apply `migrations` not applied yet, each in its own write transaction; returns their names.

    Each step re-checks, under the write lock, that no other process applied it meanwhile, so
    processes starting together never run a step twice. Migration functions must not commit:
    use `run_script` or plain `db.execute` calls.
    """
    db = Database(conn)
    with transaction(conn):
        migrations.ensure_migrations_table(db)
    applied: list[str] = []
    for step in migrations.pending(db):
        with transaction(conn):
            if any(done.name == step.name for done in migrations.applied(db)):
                continue
            step.fn(db)
            db.execute(
                f"INSERT INTO [{Migrations.migrations_table}] (migration_set, name, applied_at)"
                " VALUES (?, ?, ?)",
                [migrations.name, step.name, str(datetime.datetime.now(datetime.UTC))],
            )
        applied.append(step.name)
    return applied


class StoreConnection:
    """One store object's connection to the shared file: any thread may use it, one at a time.

    `write()` holds the lock for a `BEGIN IMMEDIATE` transaction (the write lock up front, so a
    read-then-write is never stale and two writers queue instead of deadlocking); `read()` holds
    it for one deferred transaction, so every statement inside sees the same snapshot. Both nest:
    a store method that reads inside another's write reuses the open transaction. Processes share
    the file through WAL (readers never wait for the writer).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: Synchronous = "normal",
        timeout: float = 30.0,
    ) -> None:
        self.path = str(path)
        self.conn = connect(path, synchronous=synchronous, timeout=timeout)
        self.lock = threading.RLock()
        self._writing = False

    @property
    def in_memory(self) -> bool:
        return self.path == ":memory:"

    def migrate(self, migrations: Migrations) -> list[str]:
        """Apply `migrations` not applied yet (see `migrate`); returns their names."""
        with self.lock:
            return migrate(self.conn, migrations)

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: committed on leaving, rolled back on any exception."""
        with self.lock:
            if self.conn.in_transaction:
                if not self._writing:
                    # Upgrading a read snapshot to a writer can fail with SQLITE_BUSY at any
                    # time; take the write lock first instead.
                    raise RuntimeError("a write cannot start inside a read transaction")
                yield self.conn
                return
            self._writing = True
            try:
                with transaction(self.conn, immediate=True):
                    yield self.conn
            finally:
                self._writing = False

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: one snapshot for every statement inside; writes nothing."""
        with self.lock:
            if self.conn.in_transaction:
                yield self.conn
                return
            with transaction(self.conn, immediate=False):
                yield self.conn

    def can_write(self) -> bool:
        """Could a write start now? Takes and releases the write lock; changes nothing.

        The readiness probe asks this on every call, so it must not write: it checks that the
        file and its folder are writable and that the write lock can be had within the busy
        timeout, then rolls back the empty transaction.
        """
        if not self.in_memory:
            folder = os.path.dirname(os.path.abspath(self.path))
            if not (os.access(self.path, os.W_OK) and os.access(folder, os.W_OK)):
                return False
        try:
            with self.lock:
                self.conn.execute("BEGIN IMMEDIATE")
                self.conn.execute("ROLLBACK")
        except sqlite3.Error:
            return False
        return True

    def close(self) -> None:
        with self.lock:
            self.conn.close()
