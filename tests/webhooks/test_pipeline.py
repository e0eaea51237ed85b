"""The worker side: claims, loop guard, retries with backoff, dead letters, recovery, replay."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlite_utils.migrations import Migrations

from hindsight.wiring import Config, open_delivery_store
from plugin.dispatch import Dispatcher, HandlerResult
from plugin.events import JiraEvent
from plugin.jira.errors import JiraApiError
from plugin.jira.port import User
from testkit.clock import StepClock
from tests.webhooks.helpers import issue_updated
from webhooks.pipeline import DeliveryProcessor, RetryPolicy
from webhooks.store import (
    DEAD,
    DONE,
    PROCESSING,
    RECEIVED,
    RETRYING,
    SKIPPED,
    DeliveryStore,
)

BOT = {"accountId": "557058:hindsight-bot", "displayName": "Hindsight"}


class ScriptedHandler:
    """Raises the queued errors in turn, then succeeds; counts its calls."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self, event: JiraEvent, delivery_key: str) -> HandlerResult:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return HandlerResult("acted", "did it")


@pytest.fixture
def clock() -> StepClock:
    return StepClock(datetime.fromtimestamp(1_700_000_000, UTC))


@pytest.fixture
def store(store_config: Config, clock: StepClock) -> Iterator[DeliveryStore]:
    """The delivery log on each engine, opened by the composition root as in production."""
    store = open_delivery_store(store_config, clock=clock)
    store.migrate()
    yield store
    store.close()


def receive(store: DeliveryStore, key: str, payload: dict | None = None) -> None:
    payload = payload or issue_updated()
    event = JiraEvent.from_payload(payload)
    store.record(
        key=key,
        event=event.webhook_event,
        subject=event.subject,
        issue_key=event.issue_key,
        actor=event.actor.ref if event.actor else None,
        body=json.dumps(payload).encode(),
        auth="signature",
    )


def processor(
    store: DeliveryStore,
    handler: Callable[[JiraEvent, str], HandlerResult],
    *,
    owner: str = "host:1:a",
    service_account: User | None = None,
    max_attempts: int = 3,
) -> DeliveryProcessor:
    dispatcher = Dispatcher()
    dispatcher.register("jira:issue_updated", "scripted", handler)
    return DeliveryProcessor(
        store,
        dispatcher,
        owner=owner,
        service_account=lambda: service_account,
        retry=RetryPolicy(max_attempts=max_attempts, base_seconds=2, max_seconds=60),
        rand=lambda: 0.5,
    )


def test_success_records_done_with_handler_results(store: DeliveryStore) -> None:
    handler = ScriptedHandler()
    receive(store, "k1")

    assert processor(store, handler).process("k1") is None

    row = store.get("k1")
    assert row is not None and row.status == DONE and row.attempts == 1
    assert row.handler_results() == {
        "scripted": {"outcome": "acted", "detail": "did it", "data": {}}
    }


def test_a_done_delivery_is_not_processed_again(store: DeliveryStore) -> None:
    handler = ScriptedHandler()
    receive(store, "k1")
    worker = processor(store, handler)
    worker.process("k1")
    worker.process("k1")

    assert handler.calls == 1


def test_loop_guard_skips_events_caused_by_the_service_account(store: DeliveryStore) -> None:
    handler = ScriptedHandler()
    receive(store, "own", issue_updated(actor=BOT))
    bot = User(account_id="557058:hindsight-bot")

    processor(store, handler, service_account=bot).process("own")

    row = store.get("own")
    assert row is not None and row.status == SKIPPED
    assert handler.calls == 0


def test_loop_guard_matches_data_center_user_names(store: DeliveryStore) -> None:
    handler = ScriptedHandler()
    receive(store, "dc", issue_updated(actor={"name": "hindsight", "key": "JIRAUSER10100"}))
    configured = User(account_id="hindsight", name="hindsight", key="hindsight")

    processor(store, handler, service_account=configured).process("dc")

    assert store.get("dc").status == SKIPPED  # type: ignore[union-attr]


def test_retryable_jira_error_backs_off_honouring_retry_after(
    store: DeliveryStore, clock: StepClock
) -> None:
    handler = ScriptedHandler(
        JiraApiError("POST", "/rest/api/2/issue/OPS-7/comment", 429, "slow down", retry_after=30)
    )
    receive(store, "k1")
    worker = processor(store, handler)

    delay = worker.process("k1")

    assert delay == 30  # backoff would say 1.5 s (2 s * jitter 0.75); Retry-After wins
    row = store.get("k1")
    assert row is not None and row.status == RETRYING
    assert row.next_attempt_at == clock.at.timestamp() + 30
    assert "HTTP 429" in (row.last_error or "")
    # not due yet: the queue is told to come back later, the handler is not called
    assert worker.process("k1") == pytest.approx(30)
    assert handler.calls == 1
    clock.advance(seconds=30)
    assert worker.process("k1") is None
    assert store.get("k1").status == DONE  # type: ignore[union-attr]
    assert handler.calls == 2


@pytest.mark.parametrize(
    ("status", "ends"),
    [(404, SKIPPED), (400, DEAD), (401, DEAD), (403, DEAD)],
)
def test_a_jira_4xx_ends_the_delivery_at_once_with_the_reason(
    store: DeliveryStore, status: int, ends: str
) -> None:
    # 404: the issue was deleted, or Hindsight cannot see it; other 4xx need a person first
    refused = JiraApiError("GET", "/rest/api/2/issue/10013", status, "Issue does not exist")
    handler = ScriptedHandler(refused)
    receive(store, "k1")

    assert processor(store, handler, max_attempts=8).process("k1") is None

    row = store.get("k1")
    assert row is not None and (row.status, row.attempts) == (ends, 1)
    assert row.last_error == f"scripted: JiraApiError: {refused}"
    assert row.next_attempt_at is None
    assert handler.calls == 1


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    policy = RetryPolicy(max_attempts=10, base_seconds=2, max_seconds=60)

    assert policy.delay(1, None, lambda: 0.0) == 1.0
    assert policy.delay(1, None, lambda: 1.0) == 2.0
    assert policy.delay(3, None, lambda: 1.0) == 8.0
    assert policy.delay(9, None, lambda: 1.0) == 60.0
    assert policy.delay(2, 3600, lambda: 0.0) == 60.0  # a huge Retry-After is capped too


def test_a_delivery_that_keeps_failing_is_parked_dead(
    store: DeliveryStore, clock: StepClock
) -> None:
    handler = ScriptedHandler(*(RuntimeError("boom") for _ in range(5)))
    receive(store, "k1")
    worker = processor(store, handler, max_attempts=3)

    for _ in range(3):
        worker.process("k1")
        clock.advance(seconds=1000)

    row = store.get("k1")
    assert row is not None and row.status == DEAD and row.attempts == 3
    assert row.last_error == "scripted: RuntimeError: boom"
    assert handler.calls == 3


def test_replay_runs_a_dead_delivery_again(store: DeliveryStore, clock: StepClock) -> None:
    handler = ScriptedHandler(RuntimeError("boom"))
    receive(store, "k1")
    worker = processor(store, handler, max_attempts=1)
    worker.process("k1")
    assert store.get("k1").status == DEAD  # type: ignore[union-attr]

    assert store.replay("k1")
    worker.process("k1")

    assert store.get("k1").status == DONE  # type: ignore[union-attr]
    assert not store.replay("missing")


def test_handlers_that_completed_are_not_run_again_on_retry(
    store: DeliveryStore, clock: StepClock
) -> None:
    first, second = ScriptedHandler(), ScriptedHandler(RuntimeError("later"))
    dispatcher = Dispatcher()
    dispatcher.register("jira:issue_updated", "first", first)
    dispatcher.register("jira:issue_updated", "second", second)
    worker = DeliveryProcessor(store, dispatcher, owner="h:1:a", rand=lambda: 0.5)
    receive(store, "k1")

    worker.process("k1")
    clock.advance(seconds=1000)
    worker.process("k1")

    assert (first.calls, second.calls) == (1, 2)
    assert set(store.get("k1").handler_results()) == {"first", "second"}  # type: ignore[union-attr]


def test_two_deliveries_of_one_issue_never_run_at_once(store: DeliveryStore) -> None:
    receive(store, "a", issue_updated(changelog_id="1"))
    receive(store, "b", issue_updated(changelog_id="2"))
    receive(store, "c", issue_updated("OTHER-1"))
    claim_a, _ = store.claim("a", "w1")
    worker = processor(store, ScriptedHandler(), owner="w2")

    delay = worker.process("b")

    assert claim_a.value == "claimed"
    assert delay is not None and 0.2 <= delay <= 1.0  # asked to look again shortly
    assert store.get("b").status == RECEIVED  # type: ignore[union-attr]
    assert worker.process("c") is None and store.get("c").status == DONE  # type: ignore[union-attr]


def test_recover_hands_back_work_of_a_dead_worker(store: DeliveryStore, clock: StepClock) -> None:
    receive(store, "k1")
    store.workers.heartbeat("gone:1:a")
    store.claim("k1", "gone:1:a")
    assert store.get("k1").status == PROCESSING  # type: ignore[union-attr]

    assert store.recover() == []  # the worker's heartbeat is fresh: it may still be working
    clock.advance(seconds=31)  # no heartbeat for longer than WORKER_STALE_SECONDS
    assert store.recover() == ["k1"]

    row = store.get("k1")
    assert row is not None and row.status == RECEIVED and row.owner is None


def test_recover_sees_a_killed_process_on_this_host_at_once(store: DeliveryStore) -> None:
    import os
    import socket
    import subprocess
    import sys

    receive(store, "k1")
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(child.stdout)
    owner = f"{socket.gethostname()}:{dead_pid}:x"
    with store.db.write() as conn:  # type: ignore[attr-defined]
        conn.execute(
            "INSERT INTO workers (owner, host, pid, started_at, seen_at) VALUES (?, ?, ?, ?, ?)",
            (owner, socket.gethostname(), dead_pid, store.now(), store.now()),
        )
    store.claim("k1", owner)

    assert store.recover() == ["k1"]
    assert os.getpid() != dead_pid


def test_recover_requeues_deliveries_whose_message_was_lost(
    store: DeliveryStore, clock: StepClock
) -> None:
    receive(store, "k1")

    assert store.recover() == []  # just received: its queue message is on its way
    clock.advance(seconds=60)
    assert store.recover() == ["k1"]


def test_a_starting_worker_requeues_every_waiting_delivery(
    store: DeliveryStore, clock: StepClock
) -> None:
    """At start nothing says which messages the last process took with it: send them all again."""
    receive(store, "k1")
    handler = ScriptedHandler(JiraApiError("GET", "/rest/api/2/issue/OPS-7", 503, "busy"))
    processor(store, handler).process("k1")  # now retrying, due later
    receive(store, "k2")

    assert store.recover(stale_after=0) == ["k2"]  # k1 is not due yet
    clock.advance(seconds=60)
    assert store.recover(stale_after=0) == ["k1", "k2"]


def test_finish_with_a_lost_claim_writes_nothing(store: DeliveryStore) -> None:
    receive(store, "k1")
    store.claim("k1", "w1")

    assert not store.finish("k1", "someone-else", DONE)
    assert store.finish("k1", "w1", DONE)


def _counted_by_scan(store: DeliveryStore) -> list[tuple[str, str, int]]:
    with store.db.read() as conn:  # type: ignore[attr-defined]
        rows = conn.execute(
            "SELECT event, status, count(*) FROM deliveries GROUP BY event, status ORDER BY 1, 2"
        ).fetchall()
    return [(event, status, int(count)) for event, status, count in rows]


def test_the_kept_status_counts_match_a_count_of_the_log(
    store: DeliveryStore, clock: StepClock
) -> None:
    for key in ("k1", "k2", "k3", "k4"):
        receive(store, key)
    receive(store, "k1")  # a duplicate changes nothing
    store.record(key="p1", event="project_created", subject=None, issue_key=None, actor=None,
                 body=b"{}", auth="signature", status="ignored")  # fmt: skip
    store.claim("k1", "w1")
    store.finish("k1", "w1", DONE)
    store.claim("k2", "w1")
    store.reschedule("k2", "w1", delay=5, error="busy")
    store.claim("k3", "gone")
    clock.advance(seconds=60)
    store.recover()  # k3's worker never beat: handed back
    store.claim("k4", "w1")
    store.finish("k4", "w1", DEAD)
    store.replay("k4")

    assert store.status_counts() == _counted_by_scan(store)
    assert store.queue_depth() == 3  # k2 retrying, k3 and k4 received again
    assert ("jira:issue_updated", DONE, 1) in store.status_counts()


def test_counts_start_from_the_log_when_a_database_is_upgraded(tmp_path: Path) -> None:
    from kb.database import connect, migrate
    from webhooks.schema import MIGRATIONS, _m001, _m002
    from webhooks.store import SQLiteDeliveryStore

    before = Migrations(MIGRATIONS.name)  # the schema before the counts were kept
    before(name="m001_deliveries_workers_counters")(_m001)
    before(name="m002_no_readiness_counter")(_m002)
    conn = connect(tmp_path / "old.db")
    migrate(conn, before)
    conn.executemany(
        "INSERT INTO deliveries (key, event, status, auth, body, received_at)"
        " VALUES (?, 'jira:issue_updated', ?, 'signature', x'', 0)",
        [("a", DONE), ("b", DONE), ("c", RECEIVED)],
    )
    conn.close()

    store = SQLiteDeliveryStore(tmp_path / "old.db")
    store.migrate()

    assert store.status_counts() == [
        ("jira:issue_updated", DONE, 2),
        ("jira:issue_updated", RECEIVED, 1),
    ]
    assert store.queue_depth() == 1


def test_the_keys_of_a_status_come_oldest_first_on_both_engines(store: DeliveryStore) -> None:
    """`deliveries replay --all-dead` replays in this order; it followed the status index on
    SQLite (by event, then arrival) and no order at all on PostgreSQL."""
    for key, event in (
        ("k1", "jira:issue_updated"),
        ("k2", "comment_created"),
        ("k3", "jira:issue_updated"),
        ("k4", "comment_created"),
    ):
        store.record(key=key, event=event, subject=None, issue_key=None, actor=None,
                     body=b"{}", auth="signature", status=DEAD)  # fmt: skip

    assert store.keys(status=DEAD) == ["k1", "k2", "k3", "k4"]


def test_an_error_quoting_a_nul_is_recorded_and_retried(store: DeliveryStore) -> None:
    """Jira's message may quote a value holding a NUL: PostgreSQL refused the error text, so
    the failure itself could not be recorded. It is kept with U+FFFD, on both engines."""
    handler = ScriptedHandler(RuntimeError("field 'Imp\x00act' cannot be set"))
    receive(store, "k1")

    assert processor(store, handler).process("k1") is not None  # a retry is scheduled

    row = store.get("k1")
    assert row is not None and row.status == RETRYING
    assert "field 'Imp\ufffdact' cannot be set" in (row.last_error or "")
