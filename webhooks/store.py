"""The delivery log: every accepted Jira delivery, durable in SQLite before Jira gets its 2xx.

This table is the truth about work; the queue only says "look at delivery K now". A delivery
moves received -> processing -> done | ignored | skipped | dead, or processing -> retrying ->
processing. A claim is a single transaction, so one delivery is processed by one worker at a
time, and never two deliveries of one issue at once. Workers prove they are alive with a
heartbeat; a delivery held by a worker that died is handed back (`recover`).
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from kb.database import connect, migrate, run_script, transaction

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

# A worker that has not written its heartbeat for this long is presumed dead.
HEARTBEAT_SECONDS = 5.0
WORKER_STALE_SECONDS = 30.0
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

Clock = Callable[[], float]

MIGRATIONS = Migrations("hindsight.deliveries")


@MIGRATIONS(name="m001_deliveries_workers_counters")
def _m001(db: Database) -> None:
    """The delivery log, workers' heartbeats and counters kept for /metrics."""
    run_script(
        db,
        """
    CREATE TABLE deliveries (
        key TEXT PRIMARY KEY,
        event TEXT NOT NULL,
        subject TEXT,
        issue_key TEXT,
        actor TEXT,
        status TEXT NOT NULL,
        auth TEXT NOT NULL,
        body BLOB NOT NULL,
        received_at REAL NOT NULL,
        jira_retry INTEGER,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL,
        started_at REAL,
        finished_at REAL,
        owner TEXT,
        results TEXT,
        last_error TEXT
    );
    -- One secondary index only: every index is written on each insert, in Jira's 2xx path.
    -- Claims look for processing rows of a subject through it (few rows are processing).
    CREATE INDEX deliveries_status ON deliveries (status, event);
    CREATE TABLE workers (
        owner TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        started_at REAL NOT NULL,
        seen_at REAL NOT NULL
    );
    CREATE TABLE metric_counters (
        metric TEXT NOT NULL,
        labels TEXT NOT NULL,
        value REAL NOT NULL,
        PRIMARY KEY (metric, labels)
    ) WITHOUT ROWID;
    """,
    )


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


def worker_identity() -> str:
    """A name for this worker process, unique across restarts: host, pid and a random tag."""
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"


class DeliveryStore:
    """The delivery log over one SQLite file; one connection per thread."""

    def __init__(
        self, path: str | Path, *, synchronous: str = "normal", clock: Clock = time.time
    ) -> None:
        self.path = Path(path)
        self._synchronous = synchronous
        self._clock = clock
        self._local = threading.local()
        self._own_owners: set[str] = set()

    def now(self) -> float:
        return self._clock()

    # -- connections and schema

    @property
    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, synchronous=self._synchronous)
            self._local.conn = conn
        return conn

    def migrate(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        migrate(self.conn, MIGRATIONS)

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

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
        now = self._clock()
        finished = now if status in FINAL else None
        cursor = self.conn.execute(
            "INSERT INTO deliveries (key, event, subject, issue_key, actor, status, auth, body,"
            " received_at, jira_retry, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (key) DO NOTHING",
            (key, event, subject, issue_key, actor, status, auth, body, now, jira_retry, finished),
        )
        return cursor.rowcount == 1

    # -- reading

    def get(self, key: str) -> Delivery | None:
        row = self.conn.execute(f"SELECT {_COLUMNS} FROM deliveries WHERE key = ?", (key,))
        found = row.fetchone()
        return Delivery(*found) if found else None

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
        rows = self.conn.execute(
            f"SELECT {_COLUMNS} FROM deliveries {where} ORDER BY rowid DESC LIMIT ?",
            (*params, limit),
        )
        return [Delivery(*row) for row in rows]

    def keys(self, *, status: str) -> list[str]:
        return [
            r[0]
            for r in self.conn.execute("SELECT key FROM deliveries WHERE status = ?", (status,))
        ]

    # -- processing

    def claim(self, key: str, owner: str) -> tuple[Claim, Delivery | None]:
        """Take the delivery for processing by `owner`, counting one attempt, if it may run now."""
        now = self._clock()
        with transaction(self.conn):
            delivery = self.get(key)
            if delivery is None:
                return Claim.MISSING, None
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
            if (
                delivery.subject
                and self.conn.execute(
                    "SELECT 1 FROM deliveries WHERE subject = ? AND status = ? AND key != ?"
                    " LIMIT 1",
                    (delivery.subject, PROCESSING, key),
                ).fetchone()
            ):
                return Claim.SUBJECT_BUSY, delivery
            self.conn.execute(
                "UPDATE deliveries SET status = ?, owner = ?, started_at = ?,"
                " attempts = attempts + 1 WHERE key = ?",
                (PROCESSING, owner, now, key),
            )
        return Claim.CLAIMED, self.get(key)

    def finish(
        self,
        key: str,
        owner: str,
        status: str,
        results: Mapping[str, Any] | None = None,
        *,
        error: str | None = None,
        also: Callable[[sqlite3.Connection], None] | None = None,
    ) -> bool:
        """Close a claimed delivery as done, skipped or dead; False if `owner` lost the claim.

        `also` runs inside the same transaction (a caller's own write that must commit
        together with the status: tests use it to prove exactly-once effects).
        """
        if status not in FINAL:
            raise ValueError(f"finish() takes a final status {FINAL}, not {status!r}")
        now = self._clock()
        with transaction(self.conn):
            row = self.conn.execute(
                "SELECT event, received_at, started_at FROM deliveries"
                " WHERE key = ? AND status = ? AND owner = ?",
                (key, PROCESSING, owner),
            ).fetchone()
            if row is None:
                return False
            event, received_at, started_at = row
            self.conn.execute(
                "UPDATE deliveries SET status = ?, finished_at = ?, results = ?, last_error = ?,"
                " next_attempt_at = NULL WHERE key = ?",
                (status, now, _json(results), error, key),
            )
            labels = _labels(event=event, status=status)
            self._count("hindsight_deliveries_processed_total", labels)
            self._observe("hindsight_delivery_latency_seconds", "", now - received_at)
            self._observe("hindsight_delivery_processing_seconds", "", now - (started_at or now))
            if also is not None:
                also(self.conn)
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
        with transaction(self.conn):
            cursor = self.conn.execute(
                "UPDATE deliveries SET status = ?, next_attempt_at = ?, last_error = ?,"
                " results = ?, owner = NULL WHERE key = ? AND status = ? AND owner = ?",
                (RETRYING, self._clock() + delay, error, _json(results), key, PROCESSING, owner),
            )
        return cursor.rowcount == 1

    def replay(self, key: str) -> bool:
        """Make a finished delivery run again from scratch (operator action); False if pending."""
        with transaction(self.conn):
            cursor = self.conn.execute(
                "UPDATE deliveries SET status = ?, attempts = 0, next_attempt_at = NULL,"
                " owner = NULL, results = NULL, last_error = NULL, started_at = NULL,"
                " finished_at = NULL WHERE key = ? AND status IN (?, ?, ?, ?)",
                (RECEIVED, key, *FINAL),
            )
        return cursor.rowcount == 1

    # -- workers and recovery

    def heartbeat(self, owner: str) -> None:
        self._own_owners.add(owner)
        host, pid = socket.gethostname(), os.getpid()
        now = self._clock()
        self.conn.execute(
            "INSERT INTO workers (owner, host, pid, started_at, seen_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (owner) DO UPDATE SET seen_at = excluded.seen_at",
            (owner, host, pid, now, now),
        )

    def retire(self, owner: str) -> None:
        self.conn.execute("DELETE FROM workers WHERE owner = ?", (owner,))

    def live_workers(self, *, max_age: float = WORKER_STALE_SECONDS) -> list[str]:
        rows = self.conn.execute(
            "SELECT owner FROM workers WHERE seen_at >= ?", (self._clock() - max_age,)
        )
        return [row[0] for row in rows]

    def recover(self, *, stale_after: float = 30.0) -> list[str]:
        """Hand back deliveries of dead workers; return the keys that need a queue message.

        A worker is dead when its heartbeat is older than WORKER_STALE_SECONDS, or when it ran
        on this host under a process id that no longer exists (a SIGKILLed process). Also
        returned: deliveries received or due for retry more than `stale_after` seconds ago whose
        queue message may have been lost (a crash between commit and enqueue, a flushed broker).
        Queue messages are idempotent, so returning a key that is already queued is harmless.
        """
        now = self._clock()
        host = socket.gethostname()
        with transaction(self.conn):
            held = self.conn.execute(
                "SELECT d.key, d.owner, w.host, w.pid, w.seen_at FROM deliveries d"
                " LEFT JOIN workers w ON w.owner = d.owner WHERE d.status = ?",
                (PROCESSING,),
            ).fetchall()
            orphans = [
                key
                for key, owner, w_host, w_pid, seen in held
                if seen is None
                or seen < now - WORKER_STALE_SECONDS
                or (w_host == host and not self._process_alive(w_pid, owner))
            ]
            self.conn.executemany(
                "UPDATE deliveries SET status = ?, owner = NULL WHERE key = ?",
                [(RECEIVED, key) for key in orphans],
            )
            self.conn.execute(
                "DELETE FROM workers WHERE seen_at < ?", (now - 10 * WORKER_STALE_SECONDS,)
            )
            waiting = self.conn.execute(
                "SELECT key FROM deliveries WHERE (status = ? AND received_at <= ?)"
                " OR (status = ? AND next_attempt_at <= ?) ORDER BY rowid",
                (RECEIVED, now - stale_after, RETRYING, now - stale_after),
            ).fetchall()
        return list(dict.fromkeys([*orphans, *(row[0] for row in waiting)]))

    def _process_alive(self, pid: int | None, owner: str) -> bool:
        """Is the process that claimed work still running? (Same host only.)"""
        if pid is None:
            return False
        if pid == os.getpid():
            # Our pid under an owner name we never used: a previous incarnation (pid 1 in a
            # restarted container, say).
            return owner in self._own_owners
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    # -- metrics

    def count_jira_error(self, status: int | None) -> None:
        self._count("hindsight_jira_api_errors_total", _labels(status=str(status or "none")))

    def _count(self, metric: str, labels: str, amount: float = 1.0) -> None:
        self.conn.execute(
            "INSERT INTO metric_counters (metric, labels, value) VALUES (?, ?, ?)"
            " ON CONFLICT (metric, labels) DO UPDATE SET value = value + excluded.value",
            (metric, labels, amount),
        )

    def _observe(self, metric: str, labels: str, seconds: float) -> None:
        """A Prometheus histogram kept as counters: one bucket row per bound, plus sum, count."""
        for bound in LATENCY_BUCKETS:
            if seconds <= bound:
                self._count(metric + "_bucket", _join(labels, _labels(le=_bound(bound))))
        self._count(metric + "_bucket", _join(labels, _labels(le="+Inf")))
        self._count(metric + "_sum", labels, seconds)
        self._count(metric + "_count", labels)

    def counters(self) -> list[tuple[str, str, float]]:
        return list(
            self.conn.execute("SELECT metric, labels, value FROM metric_counters ORDER BY 1, 2")
        )

    def status_counts(self) -> list[tuple[str, str, int]]:
        """(event, status, deliveries) for every pair present."""
        return list(
            self.conn.execute(
                "SELECT event, status, count(*) FROM deliveries GROUP BY status, event"
            )
        )

    def queue_depth(self) -> int:
        row = self.conn.execute(
            "SELECT count(*) FROM deliveries WHERE status IN (?, ?, ?)", PENDING
        ).fetchone()
        return int(row[0])

    def writable(self) -> bool:
        """Can this process write the database right now (for /readyz)?"""
        try:
            with transaction(self.conn):
                self.conn.execute(
                    "INSERT INTO metric_counters (metric, labels, value) VALUES"
                    " ('hindsight_readiness_probes_total', '', 1) ON CONFLICT (metric, labels)"
                    " DO UPDATE SET value = value + 1"
                )
        except sqlite3.Error:
            return False
        return True


_COLUMNS = (
    "key, event, subject, issue_key, actor, status, auth, body, received_at, jira_retry,"
    " attempts, next_attempt_at, started_at, finished_at, owner, results, last_error"
)


def _json(value: Mapping[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, default=str)


def _labels(**labels: str) -> str:
    return ",".join(f'{name}="{_escape(value)}"' for name, value in labels.items())


def _join(*parts: str) -> str:
    return ",".join(part for part in parts if part)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _bound(bound: float) -> str:
    return repr(float(bound))
