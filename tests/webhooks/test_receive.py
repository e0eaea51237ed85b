"""POST /webhooks/jira: authenticity, bad input, idempotency and durability before the 2xx."""

from __future__ import annotations

import json

import pytest
from flask import Flask
from flask.testing import FlaskClient

from hindsight.wiring import Runtime
from plugin.dispatch import HandlerResult
from plugin.events import JiraEvent
from tests.webhooks.helpers import issue_updated, post_delivery
from webhooks.store import IGNORED, RECEIVED


class RecordingHandler:
    """Remembers what it was called with; answers `no-op`."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def __call__(self, event: JiraEvent, delivery_key: str) -> HandlerResult:
        self.calls.append((event.webhook_event, delivery_key))
        return HandlerResult("no-op", "seen")


@pytest.fixture
def handler(runtime: Runtime) -> RecordingHandler:
    recording = RecordingHandler()
    runtime.dispatcher.register("jira:issue_updated", "recording", recording)
    return recording


def test_signed_delivery_is_stored_and_processed(
    client: FlaskClient, runtime: Runtime, handler: RecordingHandler
) -> None:
    response = post_delivery(client, issue_updated(), delivery_id="d-1")

    assert response.status_code == 202
    assert response.json == {"status": "accepted", "key": "d-1"}
    stored = runtime.deliveries.get("d-1")
    assert stored is not None and stored.status == "done"
    assert stored.issue_key == "OPS-7" and stored.auth == "signature"
    assert json.loads(stored.body) == issue_updated()
    assert handler.calls == [("jira:issue_updated", "d-1")]
    assert stored.handler_results()["recording"]["outcome"] == "no-op"


def test_wrong_secret_is_401_and_stores_nothing(
    client: FlaskClient, runtime: Runtime, handler: RecordingHandler
) -> None:
    response = post_delivery(client, issue_updated(), secret="not-the-secret", delivery_id="d-2")

    assert response.status_code == 401
    assert response.json["reason"] == "signature does not match the body"
    assert runtime.deliveries.get("d-2") is None
    assert handler.calls == []


def test_tampered_body_is_401(client: FlaskClient, runtime: Runtime) -> None:
    from plugin.jira.signature import sign
    from tests.conftest import WEBHOOK_SECRET

    signed = json.dumps(issue_updated()).encode()
    tampered = signed.replace(b"OPS-7", b"OPS-8")
    response = client.post(
        "/webhooks/jira", data=tampered, headers={"X-Hub-Signature": sign(signed, WEBHOOK_SECRET)}
    )

    assert response.status_code == 401
    assert runtime.deliveries.list() == []


def test_missing_credentials_is_401(client: FlaskClient) -> None:
    response = post_delivery(client, issue_updated(), secret=None)

    assert response.status_code == 401
    assert "missing credentials" in response.json["reason"]


def test_unknown_signature_algorithm_is_401(client: FlaskClient) -> None:
    response = post_delivery(
        client, issue_updated(), secret=None, headers={"X-Hub-Signature": "md5=abcdef"}
    )

    assert response.status_code == 401
    assert "unsupported signature algorithm 'md5'" in response.json["reason"]


def test_duplicate_delivery_answers_duplicate_and_runs_once(
    client: FlaskClient, handler: RecordingHandler
) -> None:
    first = post_delivery(client, issue_updated(), delivery_id="d-3")
    again = post_delivery(client, issue_updated(), delivery_id="d-3")

    assert first.status_code == 202
    assert again.status_code == 200
    assert again.json == {"status": "duplicate", "key": "d-3"}
    assert len(handler.calls) == 1


def test_without_jira_identifier_the_body_hash_is_the_key(
    client: FlaskClient, handler: RecordingHandler
) -> None:
    first = post_delivery(client, issue_updated())
    again = post_delivery(client, issue_updated())
    other = post_delivery(client, issue_updated(changelog_id="5002"))

    assert first.json["key"].startswith("sha256:")
    assert again.json == {"status": "duplicate", "key": first.json["key"]}
    assert other.status_code == 202 and other.json["key"] != first.json["key"]
    assert len(handler.calls) == 2


def test_event_nobody_handles_is_202_and_recorded_ignored(
    client: FlaskClient, runtime: Runtime
) -> None:
    payload = {"webhookEvent": "project_created", "project": {"key": "NEW", "id": "1"}}
    response = post_delivery(client, payload, delivery_id="d-4")

    assert response.status_code == 202
    assert response.json["status"] == "ignored"
    stored = runtime.deliveries.get("d-4")
    assert stored is not None and stored.status == IGNORED and stored.subject == "project:NEW"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "body is not JSON"),
        (b"\xff\xfe", "body is not JSON"),
        (b"[1, 2]", "body must be a JSON object, not an array"),
        (b'"text"', "body must be a JSON object, not a string"),
        (b"{}", "no 'webhookEvent' string"),
        (b'{"webhookEvent": 7}', "no 'webhookEvent' string"),
    ],
)
def test_bad_body_is_400_with_reason(
    client: FlaskClient, runtime: Runtime, raw: bytes, reason: str
) -> None:
    response = post_delivery(client, None, raw=raw)

    assert response.status_code == 400
    assert reason in response.json["reason"]
    assert runtime.deliveries.list() == []


def test_body_over_the_limit_is_413(client: FlaskClient, runtime: Runtime) -> None:
    payload = issue_updated()
    payload["padding"] = "x" * runtime.edge.max_body_bytes
    response = post_delivery(client, payload)

    assert response.status_code == 413
    assert "limit" in response.json["reason"]
    assert runtime.deliveries.list() == []


def test_unknown_keys_are_ignored(client: FlaskClient, handler: RecordingHandler) -> None:
    payload = {**issue_updated(), "level": "info", "label": "proxy", "timestamp": "1700000000000"}
    response = post_delivery(client, payload)

    assert response.status_code == 202
    assert len(handler.calls) == 1


def test_delivery_is_committed_before_the_answer(app: Flask, runtime: Runtime) -> None:
    """Another connection sees the row as soon as the 2xx is out: it was committed."""
    from kb.database import connect
    from webhooks.queue import build_delivery_queue, build_huey

    runtime.dispatcher.register("jira:issue_updated", "noop", lambda e, k: HandlerResult("no-op"))
    # a queue nobody consumes: the delivery must stay received
    app.extensions["hindsight"] = app.extensions["hindsight"].__class__(
        runtime=runtime,
        queue=build_delivery_queue(runtime, huey=build_huey("memory://")),
    )
    response = post_delivery(app.test_client(), issue_updated(), delivery_id="d-5")

    assert response.status_code == 202
    other = connect(runtime.config.db)
    row = other.execute("SELECT status FROM deliveries WHERE key = 'd-5'").fetchone()
    assert row == (RECEIVED,)
