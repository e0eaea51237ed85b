"""The delivery log on PostgreSQL (HINDSIGHT_DB=postgresql://...), for several machines at once.

Implements `webhooks.store.DeliveryStore` with the same states, the same heartbeats
(`webhooks.workers.WorkerRegistry`) and the same stored counters (`webhooks.counters`), whose
portable SQL runs here unchanged. What differs is how claims stay exclusive without SQLite's
single writer: the row is locked `FOR UPDATE SKIP LOCKED` (a delivery another worker is claiming
right now is `HELD`, never waited for), and a transaction-scoped advisory lock keyed on the
delivery's subject serialises claims of one issue across every machine, so two deliveries of one
issue are never processed at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from kb.clock import Clock
from kb.postgres import PostgresConnection, PostgresMigrations
from webhooks.counters import (
    LATENCY,
    PROCESSED,
    PROCESSING_TIME,
    MetricCounters,
    histogram_increments,
    label_text,
)
from webhooks.store import (
    _COLUMNS,
    FINAL,
    PENDING,
    PROCESSING,
    RECEIVED,
    RETRYING,
    Claim,
    Delivery,
    _json,
)
from webhooks.workers import WorkerRegistry

MIGRATIONS = PostgresMigrations(
    "hindsight.deliveries",
    (
        (
            "m001_deliveries_workers_counters",
            """
    CREATE TABLE deliveries (
        seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
        key TEXT PRIMARY KEY,
        event TEXT NOT NULL,
        subject TEXT,
        issue_key TEXT,
        actor TEXT,
        status TEXT NOT NULL,
        auth TEXT NOT NULL,
        body BYTEA NOT NULL,
        received_at DOUBLE PRECISION NOT NULL,
        jira_retry INTEGER,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at DOUBLE PRECISION,
        started_at DOUBLE PRECISION,
        finished_at DOUBLE PRECISION,
        owner TEXT,
        results TEXT,
        last_error TEXT
    );
    CREATE INDEX deliveries_status ON deliveries (status, event);
    -- A claim asks "is another delivery of this issue processing?": few rows are.
    CREATE INDEX deliveries_processing_subject ON deliveries (subject)
        WHERE status = 'processing';
    CREATE TABLE workers (
        owner TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        started_at DOUBLE PRECISION NOT NULL,
        seen_at DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE metric_counters (
        metric TEXT NOT NULL,
        labels TEXT NOT NULL,
        value DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (metric, labels)
    );
    """,
        ),
        # m002 on SQLite drops a probe counter PostgreSQL never had; m003 keeps counts by
        # triggers there, which here would serialise every insert on a counter row's lock.
        ("m002_no_readiness_counter", "SELECT 1"),
        ("m003_delivery_counts", "SELECT 1"),
    ),
)


class DatabaseServerTime:
    """The database server's time: every machine's one clock (a `kb.clock.Clock`).

    Heartbeats, claims and retry times written by several machines are compared with each
    other; with each machine's own clock, one running 30 s behind would look dead to the
    others and have its deliveries handed back while it works on them.
    """

    def __init__(self, db: PostgresConnection) -> None:
        self._db = db

    def now(self) -> datetime:
        with self._db.read() as conn:
            row = conn.execute("SELECT extract(epoch FROM clock_timestamp())::float8").fetchone()
        return datetime.fromtimestamp(float(row[0]), UTC)


class PostgresDeliveryStore:
    """The delivery log in a PostgreSQL database shared by every web and worker process."""

    def __init__(self, url: str, *, clock: Clock | None = None) -> None:
        """`clock` defaults to the database server's: see `DatabaseServerTime`."""
        self.url = url
        self.db = PostgresConnection(url)
        self._clock: Clock = clock or DatabaseServerTime(self.db)
        self.workers = WorkerRegistry(self.db, self._clock)  # type: ignore[arg-type]
        self.counters = MetricCounters(self.db)  # type: ignore[arg-type]

    def now(self) -> float:
        """Epoch seconds, as the delivery log stores times."""
        return self._clock.now().timestamp()

    def migrate(self) -> None:
        self.db.migrate(MIGRATIONS)

    def close(self) -> None:
        self.db.close()

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
                f"SELECT {_COLUMNS} FROM deliveries {where} ORDER BY seq DESC LIMIT ?",
                (*params, limit),
            ).fetchall()
        return [_delivery(row) for row in rows]

    def keys(self, *, status: str) -> list[str]:
        with self.db.read() as conn:
            rows = conn.execute("SELECT key FROM deliveries WHERE status = ?", (status,))
            return [row[0] for row in rows]

    def status_counts(self) -> list[tuple[str, str, int]]:
        """(event, status, deliveries) for every pair present, counted from the status index.

        Not kept by triggers as on SQLite: one counter row bumped by every insert would make
        the web processes of every machine queue on its lock in Jira's 2xx path.
        """
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT event, status, count(*) FROM deliveries GROUP BY event, status"
                " ORDER BY 1, 2"
            ).fetchall()
        return [(event, status, int(count)) for event, status, count in rows]

    def queue_depth(self) -> int:
        """Deliveries received, processing or waiting to retry (few: read from the index)."""
        with self.db.read() as conn:
            row = conn.execute(
                "SELECT count(*) FROM deliveries WHERE status IN (?, ?, ?)", PENDING
            ).fetchone()
        return int(row[0])

    def writable(self) -> bool:
        """Can this process write the database right now (for /readyz)? Writes nothing."""
        return self.db.can_write()

    def claim(self, key: str, owner: str) -> tuple[Claim, Delivery | None]:
        """Take the delivery for processing by `owner`, counting one attempt, if it may run now."""
        now = self.now()
        with self.db.write() as conn:
            found = conn.execute(
                f"SELECT {_COLUMNS} FROM deliveries WHERE key = ? FOR UPDATE SKIP LOCKED", (key,)
            ).fetchone()
            if found is None:
                # Locked by a worker claiming or finishing it right now, or not there at all.
                held = conn.execute(f"SELECT {_COLUMNS} FROM deliveries WHERE key = ?", (key,))
                row = held.fetchone()
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
                # One claimer per issue at a time on every machine; the lock is released at
                # commit, by which time this claim's `processing` row is visible to the next.
                conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtextextended(?, 0))",
                    (f"hindsight delivery subject {delivery.subject}",),
                )
                if conn.execute(
                    "SELECT 1 FROM deliveries WHERE subject = ? AND status = ? AND key != ?"
                    " LIMIT 1",
                    (delivery.subject, PROCESSING, key),
                ).fetchone():
                    return Claim.SUBJECT_BUSY, delivery
            claimed = conn.execute(
                "UPDATE deliveries SET status = ?, owner = ?, started_at = ?,"
                f" attempts = attempts + 1 WHERE key = ? RETURNING {_COLUMNS}",
                (PROCESSING, owner, now, key),
            ).fetchone()
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
                " WHERE key = ? AND status = ? AND owner = ? FOR UPDATE",
                (key, PROCESSING, owner),
            ).fetchone()
            if row is None:
                return False
            event, received_at, started_at = row
            conn.execute(
                "UPDATE deliveries SET status = ?, finished_at = ?, results = ?, last_error = ?,"
                " next_attempt_at = NULL WHERE key = ?",
                (status, now, _json(results), error, key),
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
                (RETRYING, self.now() + delay, error, _json(results), key, PROCESSING, owner),
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

    def recover(self, *, stale_after: float = 30.0) -> list[str]:
        """Hand back deliveries of dead workers; return the keys that need a queue message.

        As `SQLiteDeliveryStore.recover`. Held rows are locked `SKIP LOCKED`: a delivery being
        finished right now is not its worker's to lose, and two processes recovering at once
        never wait on each other.
        """
        now = self.now()
        with self.db.write() as conn:
            held = conn.execute(
                "SELECT d.key, d.owner, w.host, w.pid, w.seen_at FROM deliveries d"
                " LEFT JOIN workers w ON w.owner = d.owner WHERE d.status = ?"
                " FOR UPDATE OF d SKIP LOCKED",
                (PROCESSING,),
            ).fetchall()
            orphans = [
                key
                for key, owner, host, pid, seen in held
                if self.workers.presumed_dead(owner, host, pid, seen, now)
            ]
            if orphans:
                conn.executemany(
                    "UPDATE deliveries SET status = ?, owner = NULL WHERE key = ?",
                    [(RECEIVED, key) for key in orphans],
                )
            self.workers.forget_stale(conn, now)  # type: ignore[arg-type]
            waiting = conn.execute(
                "SELECT key FROM deliveries WHERE (status = ? AND received_at <= ?)"
                " OR (status = ? AND next_attempt_at <= ?) ORDER BY seq",
                (RECEIVED, now - stale_after, RETRYING, now - stale_after),
            ).fetchall()
        return list(dict.fromkeys([*orphans, *(row[0] for row in waiting)]))


def _delivery(row: Any) -> Delivery:
    values = list(row)
    values[7] = bytes(values[7])  # bytea may come back as a memoryview
    return Delivery(*values)
