"""The delivery log on PostgreSQL where several processes share it: concurrent migrations, claims
that stay exclusive across connections, and a dead worker's claim handed back.

The behaviour both engines share is tested once, on both, in test_pipeline.py (`store_location`).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from hindsight.wiring import build_runtime, load_config, open_delivery_store
from kb.engine import PostgresEngine
from kb.errors import StoreUnavailableError
from kb.postgres import PostgresConnection, PostgresMigrations
from plugin.lessons.journal_postgres import PostgresLessonsJournal
from plugin.lessons.services import build_services
from testkit.clock import StepClock
from testkit.kb import HashingEmbedder
from webhooks.store import DONE, PROCESSING, RECEIVED, Claim
from webhooks.store_postgres import MIGRATIONS, PostgresDeliveryStore

if TYPE_CHECKING:
    from flask.testing import FlaskClient

pytestmark = pytest.mark.postgres
psycopg = pytest.importorskip("psycopg", reason="pip install 'hindsight[postgres]'")


@pytest.fixture
def stores(postgres_url: str) -> Iterator[list[PostgresDeliveryStore]]:
    """Two store objects on one database: two connections, as two machines would have."""
    opened = [PostgresDeliveryStore(postgres_url), PostgresDeliveryStore(postgres_url)]
    opened[0].migrate()
    yield opened
    for store in opened:
        store.close()


def _receive(store: PostgresDeliveryStore, key: str, subject: str) -> None:
    store.record(key=key, event="jira:issue_updated", subject=subject, issue_key=subject,
                 actor=None, body=json.dumps({}).encode(), auth="signature")  # fmt: skip


def test_processes_migrating_at_once_apply_each_step_once(postgres_url: str) -> None:
    connections = [PostgresConnection(postgres_url) for _ in range(4)]
    start = threading.Barrier(len(connections))
    applied: list[list[str]] = []
    errors: list[BaseException] = []

    def migrate(conn: PostgresConnection) -> None:
        start.wait()
        try:
            applied.append(conn.migrate(MIGRATIONS))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=migrate, args=(c,)) for c in connections]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    steps = [name for name, _ in MIGRATIONS.steps]
    assert sorted(name for names in applied for name in names) == sorted(steps)
    with connections[0].read() as conn:
        rows = conn.execute(
            "SELECT name FROM hindsight_migrations WHERE migration_set = ? ORDER BY name",
            (MIGRATIONS.name,),
        ).fetchall()
    assert [row[0] for row in rows] == sorted(steps)
    for conn in connections:
        conn.close()


def test_a_delivery_being_claimed_elsewhere_is_held_not_waited_for(
    stores: list[PostgresDeliveryStore], postgres_url: str
) -> None:
    first, second = stores
    _receive(first, "k1", "OPS-1")
    with psycopg.connect(postgres_url) as other:  # another machine, mid-claim on k1
        other.execute("SELECT 1 FROM deliveries WHERE key = 'k1' FOR UPDATE")
        started = time.monotonic()
        outcome, delivery = second.claim("k1", "w2")
        waited = time.monotonic() - started
        other.rollback()

    assert outcome is Claim.HELD and delivery is not None and delivery.status == RECEIVED
    assert waited < 5  # SKIP LOCKED: not the 30 s lock timeout
    assert second.claim("k1", "w2")[0] is Claim.CLAIMED


def test_two_machines_never_claim_one_issue_at_once(stores: list[PostgresDeliveryStore]) -> None:
    """Claims of different deliveries of one issue race on two connections; one wins a round."""
    rounds = 25
    for n in range(rounds):
        _receive(stores[0], f"a{n}", f"OPS-{n}")
        _receive(stores[0], f"b{n}", f"OPS-{n}")
    outcomes: dict[str, list[Claim]] = {"a": [], "b": []}

    def claim_all(store: PostgresDeliveryStore, prefix: str, barrier: threading.Barrier) -> None:
        for n in range(rounds):
            barrier.wait()
            outcomes[prefix].append(store.claim(f"{prefix}{n}", f"worker-{prefix}")[0])

    barrier = threading.Barrier(2)
    threads = [
        threading.Thread(target=claim_all, args=(store, prefix, barrier))
        for store, prefix in zip(stores, "ab", strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    for a, b in zip(outcomes["a"], outcomes["b"], strict=True):
        assert sorted([a.value, b.value]) == ["claimed", "subject-busy"]
    with stores[0].db.read() as conn:
        busy = conn.execute(
            "SELECT subject, count(*) FROM deliveries WHERE status = ? GROUP BY subject"
            " HAVING count(*) > 1",
            (PROCESSING,),
        ).fetchall()
    assert busy == []


def test_a_claim_is_released_when_its_worker_process_dies(postgres_url: str) -> None:
    store = PostgresDeliveryStore(postgres_url)
    store.migrate()
    _receive(store, "k1", "OPS-1")
    worker = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                from webhooks.store_postgres import PostgresDeliveryStore
                from webhooks.workers import worker_identity
                store = PostgresDeliveryStore({postgres_url!r})
                owner = worker_identity()
                store.workers.heartbeat(owner)
                print(store.claim("k1", owner)[0].value, flush=True)
                time.sleep(600)  # "processing" until killed
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],  # the project root, for its imports
    )
    try:
        assert worker.stdout is not None and worker.stdout.readline().strip() == "claimed"
        assert store.get("k1").status == PROCESSING  # type: ignore[union-attr]
        assert store.recover() == []  # alive: its claim stands
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)

        assert store.recover() == ["k1"]
        row = store.get("k1")
        assert row is not None and row.status == RECEIVED and row.owner is None
        assert store.claim("k1", "next-worker")[0] is Claim.CLAIMED
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        store.close()


def test_a_claim_is_released_when_its_worker_on_another_machine_stops_beating(
    postgres_url: str,
) -> None:
    clock = StepClock(datetime.fromtimestamp(1_700_000_000, UTC))
    now = clock.at.timestamp()
    store = PostgresDeliveryStore(postgres_url, clock=clock)
    store.migrate()
    _receive(store, "k1", "OPS-1")
    with store.db.write() as conn:  # a worker on another host: its pid means nothing here
        conn.execute(
            "INSERT INTO workers (owner, host, pid, started_at, seen_at) VALUES (?, ?, ?, ?, ?)",
            ("elsewhere:7:a", "elsewhere", 7, now, now),
        )
    store.claim("k1", "elsewhere:7:a")

    assert store.recover() == []
    clock.advance(seconds=31)  # no heartbeat for longer than WORKER_STALE_SECONDS
    assert store.recover() == ["k1"]
    store.close()


def test_readiness_asks_without_writing(stores: list[PostgresDeliveryStore]) -> None:
    store = stores[0]
    assert store.writable()
    assert store.status_counts() == []  # the probe wrote no row


def test_the_composition_root_opens_every_store_on_postgresql(
    postgres_url: str, tmp_path: Path
) -> None:
    config = load_config(
        environ={"HINDSIGHT_DB": postgres_url, "HINDSIGHT_QUEUE": f"sqlite:///{tmp_path}/q.db"}
    )

    store = open_delivery_store(config)

    assert isinstance(store, PostgresDeliveryStore)
    store.migrate()
    assert store.writable()
    store.close()
    lessons = build_services(config.lessons, embedder=HashingEmbedder())
    runtime = build_runtime(config, lessons=lessons)
    assert isinstance(runtime.deliveries, PostgresDeliveryStore)
    assert isinstance(lessons.journal, PostgresLessonsJournal)
    assert lessons.store is not None and isinstance(lessons.store.engine, PostgresEngine)
    # no SQLite file stands in for the database (the queue file is the configured one)
    assert [path.name for path in tmp_path.glob("*.db")] in ([], ["q.db"])
    runtime.deliveries.close()
    lessons.store.close()


def test_threads_of_one_process_run_transactions_side_by_side(
    stores: list[PostgresDeliveryStore],
) -> None:
    store = stores[0]
    _receive(store, "k1", "OPS-1")
    inside, release = threading.Event(), threading.Event()

    def long_write() -> None:
        with store.db.write():
            inside.set()
            release.wait(10)

    writer = threading.Thread(target=long_write)
    writer.start()
    assert inside.wait(10)
    started = time.monotonic()
    read = store.get("k1")  # another thread: its own connection, not queued behind the write
    waited = time.monotonic() - started
    release.set()
    writer.join()

    assert read is not None and waited < 5


def test_a_connection_the_server_dropped_is_replaced(
    stores: list[PostgresDeliveryStore], postgres_url: str
) -> None:
    store = stores[0]
    _receive(store, "k1", "OPS-1")
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = 'hindsight' AND pid != pg_backend_pid()"
        )
    with pytest.raises(StoreUnavailableError, match="terminating connection"):
        store.get("k1")  # the transaction that finds the connection gone fails, saying why...
    assert store.get("k1") is not None  # ...and the next one opens a fresh connection


def test_every_machine_reads_the_database_servers_clock(postgres_url: str) -> None:
    """Heartbeats from machines whose clocks disagree are compared on one clock: the server's."""
    config = load_config(
        environ={"HINDSIGHT_DB": postgres_url, "HINDSIGHT_QUEUE": "redis://127.0.0.1:6379/0"}
    )
    store = open_delivery_store(config)  # as the service opens it: the server's clock
    store.migrate()
    with psycopg.connect(postgres_url) as other:
        server = float(other.execute("SELECT extract(epoch FROM now())::float8").fetchone()[0])
    store.workers.heartbeat("w1")

    assert abs(store.now() - server) < 5
    assert store.workers.live_workers() == ["w1"]
    store.close()


def _counted_by_scan(store: PostgresDeliveryStore) -> list[tuple[str, str, int]]:
    with store.db.read() as conn:
        rows = conn.execute(
            "SELECT event, status, count(*) FROM deliveries GROUP BY event, status ORDER BY 1, 2"
        ).fetchall()
    return [(event, status, int(count)) for event, status, count in rows]


def test_counts_start_from_the_log_when_a_database_is_upgraded(postgres_url: str) -> None:
    before = PostgresMigrations(MIGRATIONS.name, MIGRATIONS.steps[:3])  # counted per scrape
    old = PostgresConnection(postgres_url)
    old.migrate(before)
    with old.write() as conn:
        conn.executemany(
            "INSERT INTO deliveries (key, event, status, auth, body, received_at)"
            " VALUES (?, 'jira:issue_updated', ?, 'signature', ?, 0)",
            [("a", DONE, b""), ("b", DONE, b""), ("c", RECEIVED, b"")],
        )
    old.close()

    store = PostgresDeliveryStore(postgres_url)
    store.migrate()

    assert store.status_counts() == [
        ("jira:issue_updated", DONE, 2),
        ("jira:issue_updated", RECEIVED, 1),
    ]
    assert store.queue_depth() == 1
    store.close()


def test_counts_stay_exact_while_machines_receive_process_and_recover_at_once(
    stores: list[PostgresDeliveryStore],
) -> None:
    """Sharded counts under concurrent moves of every kind: no deadlock, no count lost."""
    events = ("jira:issue_created", "jira:issue_updated", "comment_created")
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def work(store: PostgresDeliveryStore, prefix: str) -> None:
        start.wait()
        try:
            for n in range(40):
                key, owner = f"{prefix}{n}", f"worker-{prefix}"  # no heartbeat: presumed dead
                issue = f"OPS-{n % 5}"
                store.record(key=key, event=events[n % 3], subject=issue, issue_key=issue,
                             actor=None, body=b"{}", auth="signature")  # fmt: skip
                if store.claim(key, owner)[0] is Claim.CLAIMED:
                    if n % 4:
                        store.finish(key, owner, DONE)
                    else:
                        store.reschedule(key, owner, delay=0, error="busy")
                store.recover(stale_after=0)  # hands back the others' claims mid-flight
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=work, args=(store, prefix))
        for store, prefix in zip([*stores, *stores], "abcd", strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    counted = _counted_by_scan(stores[0])
    assert stores[0].status_counts() == counted
    assert sum(count for _, _, count in counted) == 160


def test_a_connection_bumps_one_counts_row_per_event_and_status(
    stores: list[PostgresDeliveryStore],
) -> None:
    """What a scrape reads grows with events, statuses and shards, never with deliveries."""
    store = stores[0]
    for n in range(300):
        _receive(store, f"k{n}", f"OPS-{n}")  # one thread: one pooled connection, one shard

    with store.db.read() as conn:
        rows = conn.execute("SELECT event, status, n FROM delivery_counts").fetchall()
    assert [tuple(row) for row in rows] == [("jira:issue_updated", RECEIVED, 300)]
    assert store.status_counts() == [("jira:issue_updated", RECEIVED, 300)]


def _client_on(url: str, tmp_path: Path) -> FlaskClient:
    """A test client of the whole app on the PostgreSQL database `url` (the queue in memory)."""
    from hindsight.wsgi import create_app
    from tests.conftest import WEBHOOK_SECRET
    from webhooks.queue import build_delivery_queue, build_huey

    config = load_config(
        environ={},
        overrides={"db": url, "queue": f"sqlite:///{tmp_path / 'q.db'}",
                   "webhook_secret": [WEBHOOK_SECRET]},
    )  # fmt: skip
    runtime = build_runtime(config, installers=[])
    queue = build_delivery_queue(runtime, huey=build_huey("memory://", immediate=True))
    return create_app(runtime=runtime, queue=queue, test_config={"TESTING": True}).test_client()


def test_a_database_gone_while_serving_is_a_503_and_not_ready(postgres_server, tmp_path) -> None:
    """The server restarted or failed over under a running service: Jira got a 500 page and
    /readyz a 500 (the worker check read the unreachable heartbeats). Now the delivery gets
    a 503 saying nothing was stored (Jira sends it again), and /readyz a 503 naming the
    database."""
    from tests.webhooks.helpers import issue_updated, post_delivery

    url = postgres_server.create_database()
    client = _client_on(url, tmp_path)
    assert post_delivery(client, issue_updated(), delivery_id="before").status_code == 202

    postgres_server.drop_database(url)  # its connections are cut, new ones refused

    refused = post_delivery(client, issue_updated(), delivery_id="during")
    assert refused.status_code == 503
    assert "nothing was stored, send it again" in refused.json["reason"]
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json["checks"]["database"] == {"ok": False}


def test_pages_and_api_answer_a_database_gone_with_a_503_that_names_no_server(
    postgres_server, tmp_path, caplog
) -> None:
    """Every page and API read a store; with its database out of reach they answered a 500
    (audit, dashboard, actions) or a 503 showing the store's reason, which names the server's
    host and user, to anyone reading the page. Now: a 503 with Retry-After, the reason in the
    service log only."""
    from urllib.parse import urlsplit

    url = postgres_server.create_database()
    parts = urlsplit(url)
    client = _client_on(url, tmp_path)
    before = client.get("/api/lessons/search?q=deploy")
    assert before.status_code == 200 and before.json["results"] == [], before.json

    postgres_server.drop_database(url)

    for path in ("/api/lessons/search?q=deploy", "/lessons?q=deploy", "/audit", "/dashboard",
                 "/actions", "/lessons/export.csv?q=deploy"):  # fmt: skip
        caplog.clear()
        answer = client.get(path)
        text = answer.get_data(as_text=True)
        assert answer.status_code == 503, (path, text[:300])
        assert answer.headers["Retry-After"] == "30"
        assert "cannot be reached just now" in text, path
        assert parts.hostname not in text and str(parts.username) not in text, path
        assert any("database unavailable" in r.getMessage() for r in caplog.records), path
    assert client.get("/api/lessons/search?q=deploy").json["status"] == 503
