"""Health, readiness, metrics, the loop guard end to end, and the one log line per delivery."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from hindsight.config import Settings
from hindsight.wiring import Runtime
from plugin.dispatch import HandlerResult
from plugin.jira.errors import JiraApiError
from plugin.jira.port import User
from tests.webhooks.helpers import issue_updated, post_delivery


def test_healthz(client: FlaskClient) -> None:
    assert client.get("/healthz").json == {"status": "ok"}


def test_readyz_needs_a_live_worker(client: FlaskClient, runtime: Runtime) -> None:
    not_ready = client.get("/readyz")
    runtime.deliveries.workers.heartbeat("host:1:w")
    ready = client.get("/readyz")

    assert not_ready.status_code == 503
    assert not_ready.json["checks"]["worker"] == {"ok": False, "alive": 0}
    assert ready.status_code == 200
    assert ready.json["checks"]["database"] == {"ok": True}


def _database_state(path: Path) -> tuple[bytes, bytes, list[str], int]:
    """The database and WAL files byte for byte, every row, and SQLite's change counter."""
    wal = Path(f"{path}-wal")
    with sqlite3.connect(path) as conn:
        rows = list(conn.iterdump())
        version = conn.execute("PRAGMA data_version").fetchone()[0]
    return path.read_bytes(), wal.read_bytes() if wal.exists() else b"", rows, version


def test_readyz_and_metrics_read_without_writing(
    client: FlaskClient, runtime: Runtime, settings: Settings
) -> None:
    runtime.dispatcher.register("jira:issue_updated", "ok", lambda e, k: HandlerResult("no-op"))
    post_delivery(client, issue_updated(), delivery_id="r1")
    runtime.deliveries.workers.heartbeat("host:1:w")
    runtime.deliveries.counters.count_jira_error(503)
    before = _database_state(Path(settings.db))
    changes = runtime.deliveries.db.conn.total_changes

    answers = [client.get(path) for path in ("/readyz", "/metrics", "/readyz", "/metrics")]

    assert [a.status_code for a in answers] == [200, 200, 200, 200]
    assert runtime.deliveries.db.conn.total_changes == changes
    assert _database_state(Path(settings.db)) == before


def test_readyz_reports_a_database_it_cannot_write(client: FlaskClient, runtime: Runtime) -> None:
    runtime.deliveries.workers.heartbeat("host:1:w")
    other = sqlite3.connect(runtime.deliveries.path, timeout=0, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock past the timeout
    runtime.deliveries.db.conn.execute("PRAGMA busy_timeout=50")
    try:
        answer = client.get("/readyz")
    finally:
        other.execute("ROLLBACK")

    assert answer.status_code == 503
    assert answer.json["checks"]["database"] == {"ok": False}


def test_metrics_count_deliveries_outcomes_latency_and_jira_errors(
    client: FlaskClient, runtime: Runtime
) -> None:
    calls = {"n": 0}

    def flaky(event, key):  # fails once with a Jira 503, then works
        calls["n"] += 1
        if calls["n"] == 1:
            runtime.deliveries.counters.count_jira_error(503)
            raise JiraApiError("GET", "/rest/api/2/issue/OPS-7", 503, "unavailable")
        return HandlerResult("no-op")

    runtime.dispatcher.register("jira:issue_updated", "flaky", flaky)
    post_delivery(client, issue_updated(), delivery_id="m1")
    post_delivery(client, {"webhookEvent": "project_created"}, delivery_id="m2")

    text = client.get("/metrics").text

    assert 'hindsight_deliveries{event="jira:issue_updated",status="retrying"} 1' in text
    assert 'hindsight_deliveries{event="project_created",status="ignored"} 1' in text
    assert "hindsight_queue_depth 1" in text
    assert 'hindsight_jira_api_errors_total{status="503"} 1' in text
    assert "# TYPE hindsight_delivery_latency_seconds histogram" in text
    assert 'hindsight_delivery_latency_seconds_bucket{le="+Inf"} 0' in text


def test_metrics_histogram_after_processing(client: FlaskClient, runtime: Runtime) -> None:
    runtime.dispatcher.register("jira:issue_updated", "ok", lambda e, k: HandlerResult("no-op"))
    post_delivery(client, issue_updated(), delivery_id="m1")

    text = client.get("/metrics").text

    assert (
        'hindsight_deliveries_processed_total{event="jira:issue_updated",status="done"} 1' in text
    )
    assert 'hindsight_delivery_latency_seconds_bucket{le="+Inf"} 1' in text
    assert "hindsight_delivery_latency_seconds_count 1" in text


def test_loop_guard_through_the_endpoint(client: FlaskClient, runtime: Runtime) -> None:
    calls: list[str] = []
    runtime.dispatcher.register(
        "jira:issue_updated", "h", lambda e, k: calls.append(k) or HandlerResult("acted")
    )
    runtime._service_account = User(account_id="557058:bot")

    own = post_delivery(client, issue_updated(actor={"accountId": "557058:bot"}), delivery_id="x")
    other = post_delivery(client, issue_updated(), delivery_id="y")

    assert own.status_code == other.status_code == 202
    assert runtime.deliveries.get("x").status == "skipped"  # type: ignore[union-attr]
    assert runtime.deliveries.get("y").status == "done"  # type: ignore[union-attr]
    assert calls == ["y"]


def test_one_log_line_per_delivery_with_key_event_issue_outcome(
    client: FlaskClient, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    runtime.dispatcher.register("jira:issue_updated", "h", lambda e, k: HandlerResult("acted"))
    caplog.set_level(logging.INFO, logger="hindsight.deliveries")

    post_delivery(client, issue_updated("OPS-9"), delivery_id="log-1")

    lines = [r for r in caplog.records if r.name == "hindsight.deliveries"]
    assert len(lines) == 1
    fields = lines[0].fields  # type: ignore[attr-defined]
    assert (fields["key"], fields["event"], fields["issue"], fields["outcome"]) == (
        "log-1",
        "jira:issue_updated",
        "OPS-9",
        "done",
    )


def test_json_log_lines_carry_the_fields() -> None:
    from hindsight.logs import JsonLineFormatter

    record = logging.LogRecord(
        "hindsight.deliveries", logging.INFO, "", 0, "delivery %s", ("done",), None
    )
    record.fields = {"key": "k", "outcome": "done"}

    line = json.loads(JsonLineFormatter().format(record))

    assert line["msg"] == "delivery done" and line["key"] == "k" and line["level"] == "info"
