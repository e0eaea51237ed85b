"""The delivery log on PostgreSQL (HINDSIGHT_DB=postgresql://...), for several machines at once.

Implements `webhooks.store.DeliveryStore` with the queries of `webhooks.store.SQLDeliveryStore`,
the same heartbeats (`webhooks.workers.WorkerRegistry`) and the same stored counters
(`webhooks.counters`): their portable SQL runs here unchanged. What this module keeps is what
differs: the schema, the server's clock, and how claims stay exclusive without SQLite's single
writer: the row is locked `FOR UPDATE SKIP LOCKED` (a delivery another worker is claiming right
now is `HELD`, never waited for), and a transaction-scoped advisory lock keyed on the delivery's
subject serialises claims of one issue across every machine, so two deliveries of one issue are
never processed at once.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from kb.clock import Clock
from kb.postgres import PostgresConnection, PostgresMigrations, QmarkConnection
from webhooks.store import SQLDeliveryStore

# Rows per event and status in `delivery_counts`: a scrape reads at most this many per pair.
COUNT_SHARDS = 16

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
        # triggers there in one row per event and status, which here would serialise every
        # machine's inserts on that row's lock: m004 shards them instead.
        ("m002_no_readiness_counter", "SELECT 1"),
        ("m003_delivery_counts", "SELECT 1"),
        (
            "m004_delivery_counts_sharded",
            f"""
    -- Inserts and status moves wait here until the counts start from what the log holds.
    LOCK TABLE deliveries IN SHARE ROW EXCLUSIVE MODE;
    CREATE TABLE delivery_counts (
        event TEXT NOT NULL,
        status TEXT NOT NULL,
        shard SMALLINT NOT NULL,
        n BIGINT NOT NULL,
        PRIMARY KEY (event, status, shard)
    );
    INSERT INTO delivery_counts (event, status, shard, n)
        SELECT event, status, 0, count(*) FROM deliveries GROUP BY event, status;
    -- Each server process (connection) bumps the rows of its own shard, so transactions of
    -- different connections rarely wait on one row; a shard's row may go below zero (a
    -- delivery counted in on one shard moves out on another), the sum over shards is exact.
    -- An UPDATE moves its two rows in (event, status) order, as recover's updates are made,
    -- so two transactions that share a shard lock its rows in one order and never deadlock.
    CREATE FUNCTION delivery_counts_move() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        own SMALLINT := pg_backend_pid() % {COUNT_SHARDS};
    BEGIN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO delivery_counts AS c (event, status, shard, n)
                VALUES (NEW.event, NEW.status, own, 1)
                ON CONFLICT (event, status, shard) DO UPDATE SET n = c.n + 1;
        ELSIF TG_OP = 'DELETE' THEN
            INSERT INTO delivery_counts AS c (event, status, shard, n)
                VALUES (OLD.event, OLD.status, own, -1)
                ON CONFLICT (event, status, shard) DO UPDATE SET n = c.n - 1;
        ELSIF OLD.status IS DISTINCT FROM NEW.status OR OLD.event IS DISTINCT FROM NEW.event THEN
            INSERT INTO delivery_counts AS c (event, status, shard, n)
                SELECT moved.event, moved.status, own, moved.n
                FROM (VALUES (OLD.event, OLD.status, -1::bigint),
                             (NEW.event, NEW.status, 1::bigint)) AS moved (event, status, n)
                ORDER BY moved.event, moved.status
                ON CONFLICT (event, status, shard) DO UPDATE SET n = c.n + excluded.n;
        END IF;
        RETURN NULL;
    END
    $$;
    CREATE TRIGGER deliveries_counted AFTER INSERT OR DELETE OR UPDATE OF status, event
        ON deliveries FOR EACH ROW EXECUTE FUNCTION delivery_counts_move();
    """,
        ),
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


class PostgresDeliveryStore(SQLDeliveryStore):
    """The delivery log in a PostgreSQL database shared by every web and worker process."""

    db: PostgresConnection
    _ARRIVAL = "seq"

    def __init__(self, url: str, *, clock: Clock | None = None) -> None:
        """`clock` defaults to the database server's: see `DatabaseServerTime`."""
        self.url = url
        db = PostgresConnection(url)
        super().__init__(db, clock or DatabaseServerTime(db))

    def migrate(self) -> None:
        self.db.migrate(MIGRATIONS)

    def _lock_rows(self, of: str, *, skip_locked: bool = False) -> str:
        return f" FOR UPDATE OF {of}" + (" SKIP LOCKED" if skip_locked else "")

    def _serialise_subject(self, conn: sqlite3.Connection | QmarkConnection, subject: str) -> None:
        """One claimer per issue at a time on every machine: a transaction-scoped advisory lock,
        released at commit, by which time this claim's `processing` row is visible to the next."""
        conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(?, 0))",
            (f"hindsight delivery subject {subject}",),
        )
