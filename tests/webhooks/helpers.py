"""Small builders for webhook tests: deliveries shaped like Jira's, signed like Jira signs."""

from __future__ import annotations

import io
import json
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.conftest import WEBHOOK_SECRET
from webhooks.signature import sign


def issue_updated(
    key: str = "OPS-7",
    *,
    actor: dict[str, Any] | None = None,
    from_status: str = "10000",
    to_status: str = "10001",
    changelog_id: str = "5001",
) -> dict[str, Any]:
    """A Cloud-style status transition delivery."""
    return {
        "timestamp": 1_700_000_000_000,
        "webhookEvent": "jira:issue_updated",
        "issue_event_type_name": "issue_generic",
        "user": actor or {"accountId": "557058:alice", "displayName": "Alice"},
        "issue": {
            "id": "10042",
            "key": key,
            "fields": {
                "summary": "Rotate the database credentials",
                "project": {"id": "10000", "key": key.split("-")[0]},
                "issuetype": {"id": "10002", "name": "Change", "subtask": False},
                "status": {"id": to_status, "name": "In Review"},
                "labels": [],
            },
        },
        "changelog": {
            "id": changelog_id,
            "items": [
                {
                    "field": "status",
                    "fieldId": "status",
                    "from": from_status,
                    "fromString": "To Do",
                    "to": to_status,
                    "toString": "In Review",
                }
            ],
        },
    }


def post_delivery(
    client: FlaskClient,
    payload: Any,
    *,
    secret: str | None = WEBHOOK_SECRET,
    delivery_id: str | None = None,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> TestResponse:
    """POST like Jira: the body signed with `secret` (None: unsigned)."""
    body = raw if raw is not None else json.dumps(payload).encode()
    sent = {"Content-Type": "application/json", **(headers or {})}
    if secret is not None:
        sent["X-Hub-Signature"] = sign(body, secret)
    if delivery_id is not None:
        sent["X-Atlassian-Webhook-Identifier"] = delivery_id
    return client.post("/webhooks/jira", data=body, headers=sent)


def post_chunked(
    client: FlaskClient, path: str, body: bytes, headers: dict[str, str] | None = None
) -> TestResponse:
    """POST `body` as a chunked request: no Content-Length, the server ends the stream."""
    return client.post(
        path,
        input_stream=io.BytesIO(body),
        headers={"Transfer-Encoding": "chunked", **(headers or {})},
        environ_overrides={"wsgi.input_terminated": True},
    )
