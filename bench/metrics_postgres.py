"""What a /metrics scrape costs on PostgreSQL at millions of deliveries, and what keeping the
counts costs an insert, sharded as shipped next to one hot row per event and status.

    .venv/bin/python -m bench.metrics_postgres [--rows 1000000] [--writers 8] [--inserts 300]

Starts a throwaway, durable PostgreSQL server (testkit/postgres.py: fsync and synchronous commit
on), fills the delivery log with `--rows` deliveries over the seven statuses from `--writers`
connections at once (so the counts' rows are spread over their shards as in production, every
insert through the trigger), then prints, median of several calls:
- the scrape's delivery counts and queue depth (`status_counts`, `queue_depth`: the kept
  counts), next to counting the log (`count(*) ... GROUP BY`, what this replaced), and the
  whole `render_metrics`;
- deliveries/s and p99 of `record()` (Jira's 2xx path) with `--writers` threads, each its own
  connection, for the counts sharded per connection (shipped), in one row per event and status
  (the hot row the sharding avoids), and not kept at all (the trigger disabled).
Figures depend on the machine; the point is how each grows with the rows and the writers.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time

from bench.figures import median_ms, percentile
from webhooks.metrics import render_metrics
from webhooks.store import STATUSES
from webhooks.store_postgres import COUNT_SHARDS, PostgresDeliveryStore

_TRIGGER_FUNCTION = "delivery_counts_move()"


def _fill(store: PostgresDeliveryStore, rows: int, writers: int) -> None:
    """`rows` deliveries inserted server-side in batches, from `writers` connections at once."""

    def insert(part: int) -> None:
        for start in range(part, rows, writers * 20_000):
            stop = min(start + 20_000, rows)
            with store.db.write() as conn:
                conn.execute(
                    "INSERT INTO deliveries (key, event, subject, issue_key, status, auth, body,"
                    " received_at) SELECT 'd-' || n, 'jira:issue_updated', 'i-' || n % 5000,"
                    " 'P' || n % 50 || '-' || n, (?::text[])[1 + CASE WHEN n % 97 = 0 THEN 0"
                    " ELSE n % 7 END], 'signature', '\\x7b7d'::bytea, n"
                    " FROM generate_series(?::bigint, ?::bigint) AS n",
                    (list(STATUSES), start, stop - 1),
                )

    threads = [threading.Thread(target=insert, args=(w * 20_000,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _record_rate(store: PostgresDeliveryStore, tag: str, writers: int, each: int) -> str:
    """Deliveries/s and p99 ms of `record()` from `writers` threads, `each` deliveries apiece."""
    latencies: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(writers)

    def send(w: int) -> None:
        own: list[float] = []
        start.wait()
        for n in range(each):
            began = time.perf_counter()
            issue = f"OPS-{n}"
            store.record(key=f"{tag}-{w}-{n}", event="jira:issue_updated", subject=issue,
                         issue_key=issue, actor=None, body=b"{}", auth="signature")  # fmt: skip
            own.append((time.perf_counter() - began) * 1000)
        with lock:
            latencies.extend(own)

    began = time.perf_counter()
    threads = [threading.Thread(target=send, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rate = len(latencies) / (time.perf_counter() - began)
    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    return f"{rate:7.0f} deliveries/s, p50 {p50:6.1f} ms, p99 {p99:6.1f} ms"


def _on_one_shard(store: PostgresDeliveryStore) -> str:
    """The SQL that redefines the counting trigger with every connection on one shard."""
    with store.db.read() as conn:
        (source,) = conn.execute(
            "SELECT pg_get_functiondef(?::regprocedure)", (_TRIGGER_FUNCTION,)
        ).fetchone()
    return source.replace(f"% {COUNT_SHARDS}", "% 1")


def main(argv: list[str] | None = None) -> int:
    from testkit.postgres import NoServer, ThrowawayPostgres

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="deliveries in the log")
    parser.add_argument("--writers", type=int, default=8, help="connections inserting at once")
    parser.add_argument("--inserts", type=int, default=300, help="record() calls per writer")
    args = parser.parse_args(argv or [])
    try:
        server = ThrowawayPostgres(durable=True)
        server.start()
    except NoServer as exc:
        print(f"skipped: {exc}")
        return 0
    try:
        url = server.create_database()
        store = PostgresDeliveryStore(url)
        store.migrate()
        started = time.perf_counter()
        _fill(store, args.rows, args.writers)
        import psycopg

        with psycopg.connect(url, autocommit=True) as admin:  # counting's best case: all visible
            admin.execute("VACUUM ANALYZE deliveries")
        with store.db.read() as conn:
            (kept_rows,) = conn.execute("SELECT count(*) FROM delivery_counts").fetchone()
        print(
            f"filled {args.rows:,} deliveries from {args.writers} connections in"
            f" {time.perf_counter() - started:.1f} s; the counts hold {kept_rows} rows"
            f" ({COUNT_SHARDS} shards at most per event and status)"
        )

        def kept() -> None:
            store.status_counts()
            store.queue_depth()

        def scan() -> None:
            with store.db.read() as conn:
                conn.execute(
                    "SELECT event, status, count(*) FROM deliveries GROUP BY event, status"
                ).fetchall()
                conn.execute(
                    "SELECT count(*) FROM deliveries WHERE status IN (?, ?, ?)",
                    ("received", "processing", "retrying"),
                ).fetchone()

        print(
            f"/metrics delivery counts   kept {median_ms(kept):8.2f} ms"
            f"   counting the log {median_ms(scan, times=3):9.2f} ms"
        )
        print(f"/metrics whole scrape      {median_ms(lambda: render_metrics(store)):8.2f} ms")

        writers, each = args.writers, args.inserts
        hot_row = _on_one_shard(store)
        for label, setup in (
            ("counts sharded  ", "SELECT 1"),
            ("one hot row     ", hot_row),
            ("counts not kept ", "ALTER TABLE deliveries DISABLE TRIGGER deliveries_counted"),
        ):
            with store.db.write() as conn:
                conn.raw.execute(setup)
            rate = _record_rate(store, label.split()[1], writers, each)
            print(f"record(), {writers} writers, {label} {rate}")
        store.close()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
