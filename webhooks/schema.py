"""The delivery log's tables, as numbered migrations (`hindsight.deliveries`).

Deliveries, the workers' heartbeats, the counters kept for /metrics and the deliveries counted
per event and status. Applied by `SQLiteDeliveryStore.migrate` through `kb.database`.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from kb.database import run_script

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


@MIGRATIONS(name="m002_no_readiness_counter")
def _m002(db: Database) -> None:
    """/readyz no longer writes: drop the probe counter it used to bump (never exported)."""
    db.execute("DELETE FROM metric_counters WHERE metric = 'hindsight_readiness_probes_total'")


@MIGRATIONS(name="m003_delivery_counts")
def _m003(db: Database) -> None:
    """Deliveries per event and status, kept by triggers: /metrics reads a few rows, not the log.

    Counting the log on every scrape read one index entry per delivery ever received. Each
    insert now also bumps one row of a small table in the same transaction.
    """
    run_script(
        db,
        """
    CREATE TABLE delivery_counts (
        event TEXT NOT NULL,
        status TEXT NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (event, status)
    ) WITHOUT ROWID;
    INSERT INTO delivery_counts (event, status, n)
        SELECT event, status, count(*) FROM deliveries GROUP BY event, status;
    CREATE TRIGGER deliveries_counted_in AFTER INSERT ON deliveries BEGIN
        INSERT INTO delivery_counts (event, status, n) VALUES (NEW.event, NEW.status, 1)
            ON CONFLICT (event, status) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER deliveries_counted_move AFTER UPDATE OF status ON deliveries
        WHEN OLD.status IS NOT NEW.status BEGIN
        UPDATE delivery_counts SET n = n - 1 WHERE event = OLD.event AND status = OLD.status;
        INSERT INTO delivery_counts (event, status, n) VALUES (NEW.event, NEW.status, 1)
            ON CONFLICT (event, status) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER deliveries_counted_out AFTER DELETE ON deliveries BEGIN
        UPDATE delivery_counts SET n = n - 1 WHERE event = OLD.event AND status = OLD.status;
    END;
    """,
    )
