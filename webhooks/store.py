"""The delivery log: every accepted Jira delivery, durable in the database before Jira gets its 2xx.

This table is the truth about work; the queue only says "look at delivery K now". A delivery
moves received -> processing -> done | ignored | skipped | dead, or processing -> retrying ->
processing. A claim is a single transaction, so one delivery is processed by one worker at a
time, and never two deliveries of one issue at once. Workers prove they are alive with a
heartbeat (webhooks.workers); a delivery held by a worker that died is handed back (`recover`).
Outcome counts and latencies for /metrics commit with the outcome (webhooks.counters). Callers
depend on the `DeliveryStore` Protocol. Its queries live once, in `SQLDeliveryStore`; the engines
keep only what differs: `SQLiteDeliveryStore` here (one `kb.database.StoreConnection`, as every
store has: docs/storage.md) and `webhooks.store_postgres.PostgresDeliveryStore` (row and
advisory locks, the server's clock).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

from kb.clock import SYSTEM_CLOCK, Clock
from kb.database import StoreConnection, Synchronous
from kb.postgres import PostgresConnection, QmarkConnection
from kb.text import without_nul
from webhooks.counters import (
    LATENCY,
    PROCESSED,
    PROCESSING_TIME,
    CounterStore,
    MetricCounters,
    histogram_increments,
    label_text,
)
from webhooks.schema import MIGRATIONS
from webhooks.workers import Heartbeats, WorkerRegistry

RECEIVED = "received"
PROCESSING = "processing"
RETRYING = "retrying"
DONE = "done"
IGNORED = "ignored"
SKIPPED = "skipped"
DEAD = "dead"
STATUSES = (RECEIVED, PROCESSING, RETRYING, DONE, IGNORED, SKIPPED, DEAD)
PENDING = (RECEIVED, PROCESSING, RETRYING)
FINAL = (DONE, IGNORED, SKIPPED, DEAD)


@dataclass(frozen=True)
class Delivery:
    """One row of the delivery log."""

    key: str
    event: str
    subject: str | None
    issue_key: str | None
    actor: str | None
    status: str
    auth: str
    body: bytes
    received_at: float
    jira_retry: int | None
    attempts: int
    next_attempt_at: float | None
    started_at: float | None
    finished_at: float | None
    owner: str | None
    results: str | None
    last_error: str | None

    def payload(self) -> dict[str, Any]:
        return json.loads(self.body)

    def handler_results(self) -> dict[str, dict[str, Any]]:
        """Results of the handlers that completed, by handler name."""
        return json.loads(self.results) if self.results else {}


class Claim(Enum):
    """Why a worker may or may not process a delivery now."""

    CLAIMED = "claimed"
    MISSING = "missing"
    FINISHED = "finished"  # done, ignored, skipped or dead: nothing to do
    HELD = "held"  # another live worker is processing it
    NOT_DUE = "not-due"  # a retry scheduled for later
    SUBJECT_BUSY = "subject-busy"  # another delivery of the same issue is being processed


class DeliveryStore(Protocol):
    """What the edge, the workers, the pages and the CLI need of the delivery log."""

    @property
    def workers(self) -> Heartbeats: ...
    @property
    def counters(self) -> CounterStore: ...
    def now(self) -> float: ...
    def migrate(self) -> None: ...
    def close(self) -> None: ...
    def record(
        self,
        *,
        key: str,
        event: str,
        subject: str | None,
        issue_key: str | None,
        actor: str | None,
        body: bytes,
        auth: str,
        status: str = RECEIVED,
        jira_retry: int | None = None,
    ) -> bool: ...
    def get(self, key: str) -> Delivery | None: ...
    def list(
        self, *, status: str | None = None, event: str | None = None, limit: int = 50
    ) -> list[Delivery]: ...
    def keys(self, *, status: str) -> list[str]: ...
    def status_counts(self) -> list[tuple[str, str, int]]: ...
    def queue_depth(self) -> int: ...
    def writable(self) -> bool: ...
    def claim(self, key: str, owner: str) -> tuple[Claim, Delivery | None]: ...
    def finish(
        self,
        key: str,
        owner: str,
        status: str,
        results: Mapping[str, Any] | None = None,
        *,
        error: str | None = None,
    ) -> bool: ...
    def reschedule(
        self,
        key: str,
        owner: str,
        *,
        delay: float,
        error: str,
        results: Mapping[str, Any] | None = None,
    ) -> bool: ...
    def replay(self, key: str) -> bool: ...
    def recover(self, *, stale_after: float = 30.0) -> list[str]: ...


class SQLDeliveryStore:
    """The delivery log's reads, writes and state moves, in SQL both engines run (`?` placeholders).

    Subclasses open the connection (a `StoreConnection` or a `kb.postgres.PostgresConnection`),
    own the schema and the trigger-kept or counted totals, and say how rows are locked:
    `SQLiteDeliveryStore` here, `PostgresDeliveryStore` in webhooks.store_postgres.
    """

    db: StoreConnection | PostgresConnection
    # The column that orders deliveries as they arrived.
    _ARRIVAL = "rowid"

    def __init__(self, db: StoreConnection | PostgresConnection, clock: Clock) -> None:
        self.db = db
        self._clock = clock
        self.workers = WorkerRegistry(db, clock)
        self.counters = MetricCounters(db)

    def now(self) -> float:
        """Epoch seconds, as the delivery log stores times."""
        return self._clock.now().timestamp()

    def close(self) -> None:
        self.db.close()

    def _lock_rows(self, of: str, *, skip_locked: bool = False) -> str:
        """The clause that locks the rows of table `of` a write transaction's SELECT reads.

        With `skip_locked`, rows another transaction holds are left out instead of waited
        for. SQLite needs none: `BEGIN IMMEDIATE` gives the one writer the whole database.
        """
        return ""

    def _serialise_subject(self, conn: sqlite3.Connection | QmarkConnection, subject: str) -> None:
        """Make concurrent claims of one issue's deliveries take turns (inside the claim).

        SQLite's single writer already does; an engine with concurrent writers locks here.
        """

    # -- receiving

    def record(
        self,
        *,
        key: str,
        event: str,
        subject: str | None,
        issue_key: str | None,
        actor: str | None,
        body: bytes,
        auth: str,
        status: str = RECEIVED,
        jira_retry: int | None = None,
    ) -> bool:
        """Store a new delivery (committed on return); False when the key is already known."""
        now = self.now()
        finished = now if status in FINAL else None
        with self.db.write() as conn:
            cursor = conn.execute(
                "INSERT INTO deliveries (key, event, subject, issue_key, actor, status, auth, body,"
                " received_at, jira_retry, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (key) DO NOTHING",
                (key, event, subject, issue_key, actor, status, auth, body, now, jira_retry,
                 finished),
            )  # fmt: skip
        return cursor.rowcount == 1

    # -- reading

    def get(self, key: str) -> Delivery | None:
        with self.db.read() as conn:
            found = conn.execute(
                f"SELECT {_COLUMNS} FROM deliveries WHERE key = ?", (key,)
            ).fetchone()
        return _delivery(found) if found else None

    def list(
        self, *, status: str | None = None, event: str | None = None, limit: int = 50
    ) -> list[Delivery]:
        """Newest first, optionally only one status and/or event type."""
        clauses, params = [], []
        if status:
            clauses.append("status = ?")
            params.append(status)
        if event:
            clauses.append("event = ?")
            params.append(event)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with self.db.read() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM deliveries {where} ORDER BY {self._ARRIVAL} DESC LIMIT ?",
                (*params, limit),
            ).fetchall()
        return [_delivery(row) for row in rows]

    def keys(self, *, status: str) -> list[str]:
        """The keys of every delivery in `status`, oldest first (replayed in that order)."""
        with self.db.read() as conn:
            rows = conn.execute(
                f"SELECT key FROM deliveries WHERE status = ? ORDER BY {self._ARRIVAL}", (status,)
            )
            return [row[0] for row in rows]

    def status_counts(self) -> list[tuple[str, str, int]]:
        """(event, status, deliveries) for every pair present, from the trigger-kept counts.

        A scrape reads the small `delivery_counts` table, never the log: one row per event
        and status on SQLite, at most `COUNT_SHARDS` of them on PostgreSQL.
        """
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT event, status, sum(n) FROM delivery_counts GROUP BY event, status"
                " HAVING sum(n) > 0 ORDER BY 1, 2"
            ).fetchall()
        return [(event, status, int(count)) for event, status, count in rows]

    def queue_depth(self) -> int:
        """Deliveries received, processing or waiting to retry (from the kept counts)."""
        with self.db.read() as conn:
            row = conn.execute(
                "SELECT coalesce(sum(n), 0) FROM delivery_counts WHERE status IN (?, ?, ?)",
                PENDING,
            ).fetchone()
        return int(row[0])

    def writable(self) -> bool:
        """Could this process write the database right now (for /readyz)? Writes nothing."""
        return self.db.can_write()

    # -- processing

    def claim(self, key: str, owner: str) -> tuple[Claim, Delivery | None]:
        """Take the delivery for processing by `owner`, counting one attempt, if it may run now.

        A delivery another transaction is claiming or finishing right now is `HELD`, never
        waited for (PostgreSQL skips its locked row; SQLite's writer is alone).
        """
        now = self.now()
        with self.db.write() as conn:
            found = conn.execute(
                f"SELECT {_COLUMNS} FROM deliveries WHERE key = ?"
                + self._lock_rows("deliveries", skip_locked=True),
                (key,),
            ).fetchone()
            if found is None:
                row = conn.execute(
                    f"SELECT {_COLUMNS} FROM deliveries WHERE key = ?", (key,)
                ).fetchone()
                return (Claim.HELD, _delivery(row)) if row else (Claim.MISSING, None)
            delivery = _delivery(found)
            if delivery.status in FINAL:
                return Claim.FINISHED, delivery
            if delivery.status == PROCESSING:
                return Claim.HELD, delivery
            if (
                delivery.status == RETRYING
                and delivery.next_attempt_at is not None
                and delivery.next_attempt_at > now + 0.5
            ):
                return Claim.NOT_DUE, delivery
            if delivery.subject:
                self._serialise_subject(conn, delivery.subject)
                if conn.execute(
                    "SELECT 1 FROM deliveries WHERE subject = ? AND status = ? AND key != ?"
                    " LIMIT 1",
                    (delivery.subject, PROCESSING, key),
                ).fetchone():
                    return Claim.SUBJECT_BUSY, delivery
            (claimed,) = conn.execute(  # every row read: the statement is complete on SQLite
                "UPDATE deliveries SET status = ?, owner = ?, started_at = ?,"
                f" attempts = attempts + 1 WHERE key = ? RETURNING {_COLUMNS}",
                (PROCESSING, owner, now, key),
            ).fetchall()
            return Claim.CLAIMED, _delivery(claimed)

    def finish(
        self,
        key: str,
        owner: str,
        status: str,
        results: Mapping[str, Any] | None = None,
        *,
        error: str | None = None,
    ) -> bool:
        """Close a claimed delivery as done, skipped or dead; False if `owner` lost the claim."""
        if status not in FINAL:
            raise ValueError(f"finish() takes a final status {FINAL}, not {status!r}")
        now = self.now()
        with self.db.write() as conn:
            row = conn.execute(
                "SELECT event, received_at, started_at FROM deliveries"
                " WHERE key = ? AND status = ? AND owner = ?" + self._lock_rows("deliveries"),
                (key, PROCESSING, owner),
            ).fetchone()
            if row is None:
                return False
            event, received_at, started_at = row
            conn.execute(
                "UPDATE deliveries SET status = ?, finished_at = ?, results = ?, last_error = ?,"
                " next_attempt_at = NULL WHERE key = ?",
                (status, now, _json(results), without_nul(error), key),
            )
            # Sorted, so concurrent finishes lock shared counter rows in one order (no deadlock).
            self.counters.add(
                sorted(
                    [
                        (PROCESSED, label_text(event=event, status=status), 1.0),
                        *histogram_increments(LATENCY, now - received_at),
                        *histogram_increments(PROCESSING_TIME, now - (started_at or now)),
                    ]
                )
            )
        return True

    def reschedule(
        self,
        key: str,
        owner: str,
        *,
        delay: float,
        error: str,
        results: Mapping[str, Any] | None = None,
    ) -> bool:
        """Hand a claimed delivery back to be tried again after `delay` seconds."""
        with self.db.write() as conn:
            cursor = conn.execute(
                "UPDATE deliveries SET status = ?, next_attempt_at = ?, last_error = ?,"
                " results = ?, owner = NULL WHERE key = ? AND status = ? AND owner = ?",
                # an error may quote Jira's text, which may hold a NUL (kb.text.NUL)
                (
                    RETRYING,
                    self.now() + delay,
                    without_nul(error),
                    _json(results),
                    key,
                    PROCESSING,
                    owner,
                ),
            )
        return cursor.rowcount == 1

    def replay(self, key: str) -> bool:
        """Make a finished delivery run again from scratch (operator action); False if pending."""
        with self.db.write() as conn:
            cursor = conn.execute(
                "UPDATE deliveries SET status = ?, attempts = 0, next_attempt_at = NULL,"
                " owner = NULL, results = NULL, last_error = NULL, started_at = NULL,"
                " finished_at = NULL WHERE key = ? AND status IN (?, ?, ?, ?)",
                (RECEIVED, key, *FINAL),
            )
        return cursor.rowcount == 1

    # -- recovery

    def recover(self, *, stale_after: float = 30.0) -> list[str]:
        """Hand back deliveries of dead workers; return the keys that need a queue message.

        A worker is dead when its heartbeat is stale or its process on this host is gone
        (`WorkerRegistry.presumed_dead`). Also returned: deliveries received or due for retry
        more than `stale_after` seconds ago whose queue message may have been lost (a crash
        between commit and enqueue, a flushed broker). Queue messages are idempotent, so
        returning a key that is already queued is harmless. Held rows locked by another
        transaction are skipped: a delivery being finished right now is not its worker's to
        lose, and two processes recovering at once never wait on each other.
        """
        now = self.now()
        with self.db.write() as conn:
            held = conn.execute(
                "SELECT d.key, d.event, d.owner, w.host, w.pid, w.seen_at FROM deliveries d"
                " LEFT JOIN workers w ON w.owner = d.owner WHERE d.status = ?"
                + self._lock_rows("d", skip_locked=True),
                (PROCESSING,),
            ).fetchall()
            dead = [
                (event, key)
                for key, event, owner, host, pid, seen in held
                if self.workers.presumed_dead(owner, host, pid, seen, now)
            ]
            orphans = [key for _, key in dead]
            if dead:
                # By event: the counts' rows are then locked in one order (PostgreSQL's m004).
                conn.executemany(
                    "UPDATE deliveries SET status = ?, owner = NULL WHERE key = ?",
                    [(RECEIVED, key) for _, key in sorted(dead)],
                )
            self.workers.forget_stale(conn, now)
            waiting = conn.execute(
                "SELECT key FROM deliveries WHERE (status = ? AND received_at <= ?)"
                f" OR (status = ? AND next_attempt_at <= ?) ORDER BY {self._ARRIVAL}",
                (RECEIVED, now - stale_after, RETRYING, now - stale_after),
            ).fetchall()
        return list(dict.fromkeys([*orphans, *(row[0] for row in waiting)]))


class SQLiteDeliveryStore(SQLDeliveryStore):
    """The delivery log over one SQLite file, with the workers' heartbeats and the counters.

    Totals per event and status are kept by triggers (`webhooks.schema` m003): the single
    writer bumps one small row per change in the same transaction.
    """

    db: StoreConnection

    def __init__(
        self, path: str | Path, *, synchronous: Synchronous = "normal", clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self.path = Path(path)
        super().__init__(StoreConnection(path, synchronous=synchronous), clock)

    def migrate(self) -> None:
        self.db.migrate(MIGRATIONS)


_COLUMNS = (
    "key, event, subject, issue_key, actor, status, auth, body, received_at, jira_retry,"
    " attempts, next_attempt_at, started_at, finished_at, owner, results, last_error"
)


def _json(value: Mapping[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, default=str)


def _delivery(row: Sequence[Any]) -> Delivery:
    values = list(row)
    values[7] = bytes(values[7])  # PostgreSQL's bytea may come back as a memoryview
    return Delivery(*values)
