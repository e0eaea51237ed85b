"""Small builders for webhook tests: deliveries shaped like Jira's, signed like Jira signs, and a
Flask app with only the lessons pages and API (`make_web_app`)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from hindsight.config import load_settings
from kb.clock import SYSTEM_CLOCK, Clock
from kb.search import SearchSettings
from plugin.jira.signature import sign
from plugin.lessons.config import LessonsSettings
from plugin.lessons.services import LessonsOptions, LessonsServices, build_services
from testkit.kb import HashingEmbedder
from tests.conftest import WEBHOOK_SECRET
from webhooks.web import LessonsWeb, register_lessons_web
from webhooks.web.audit import AuditSource
from webhooks.web.context import AccessRules


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


RETRO_WITH_SCRIPT = """---
title: Payments release 4.2 retrospective
project: PAY
date: 2026-02-10
tags: [release, database]
---
# Payments release 4.2 retrospective

## What went wrong
- The database migration locked the orders table for 40 minutes \
<script>window.__pwned = 1; document.title = "pwned"</script>
- Nobody had rehearsed the rollback [runbook](javascript:window.__pwned=2) \
before the release window.

## Lessons learned
- Rehearse every schema migration on a production-sized copy and time it.
- Keep the rollback script next to the migration and test it in staging.
"""


def make_web_app(
    tmp_path: Path,
    *,
    access: AccessRules | None = None,
    audit: AuditSource | None = None,
    clock: Clock = SYSTEM_CLOCK,
    jira: Any = None,
    report_only: bool = False,
    jira_url: str | None = None,
    db: str | None = None,
) -> tuple[Flask, LessonsServices]:
    """A Flask app with only the lessons pages and API over a real store with a fake embedder.

    `db` is where the store and journal live, as HINDSIGHT_DB would say (the `store_location`
    fixture's value); by default a file in `tmp_path`.
    """
    location = tmp_path / "hindsight.db"
    if db:  # parsed as the service parses HINDSIGHT_DB
        queue = f"sqlite:///{tmp_path / 'q.db'}"
        location = load_settings(environ={}, overrides={"db": db, "queue": queue}).db
    options = LessonsOptions(
        db=location,
        base_url="http://hindsight.test",
        feedback_secrets=("web-test-secret",),
    )
    services = build_services(
        options,
        embedder=HashingEmbedder(),
        policy=LessonsSettings(threshold=0.1),
        clock=clock,
    )
    assert services.store is not None
    # The hashing fake is not calibrated: a low bar keeps its word-overlap matches "strong".
    services.store.settings = SearchSettings(related_similarity=0.1)
    services.store.ingest_source("retros/pay-4.2.md", RETRO_WITH_SCRIPT)
    app = Flask("lessons-test")
    app.config["TESTING"] = True
    web = LessonsWeb(
        services=services,
        access=access or AccessRules(),
        audit=audit,
        jira=(lambda: jira) if jira is not None else None,  # the port "Create in Jira" uses
        report_only=report_only,
        jira_url=jira_url,
    )
    register_lessons_web(app, web)
    return app, services
