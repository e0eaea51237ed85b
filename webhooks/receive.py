"""`POST /webhooks/jira`: verify, parse, record durably, queue, answer. Nothing else.

The delivery is committed to SQLite before the 2xx leaves, so an answered delivery is never lost;
the work happens later in a worker (see docs/decisions/0001-answer-fast-work-async.md).
"""

from __future__ import annotations

import hashlib
import logging

from flask import Blueprint, Response, jsonify, request

from kb.errors import StoreUnavailableError
from plugin.events import InvalidEvent, JiraEvent
from webhooks.request_body import BodyTooLarge, InvalidJson, json_kind, parse_json, read_body
from webhooks.signature import Unauthenticated, authenticate
from webhooks.state import app_state
from webhooks.store import IGNORED, RECEIVED

log = logging.getLogger("hindsight.deliveries")

blueprint = Blueprint("jira_webhook", __name__)

DELIVERY_ID_HEADER = "X-Atlassian-Webhook-Identifier"
RETRY_HEADER = "X-Atlassian-Webhook-Retry"
MAX_KEY_LENGTH = 200


@blueprint.post("/webhooks/jira")
def receive_jira() -> tuple[Response, int]:
    state = app_state()
    try:
        body = read_body(state.edge.max_body_bytes)
    except BodyTooLarge as exc:
        return _reject(413, exc.description)
    try:
        auth = authenticate(
            request.headers, body, state.edge.credentials, url_token=request.args.get("token")
        )
    except Unauthenticated as exc:
        return _reject(401, str(exc))
    try:
        payload = parse_json(body)
    except InvalidJson as exc:
        return _reject(400, str(exc))
    if not isinstance(payload, dict):
        return _reject(400, f"body must be a JSON object, not {json_kind(payload)}")
    try:
        event = JiraEvent.from_payload(payload)
    except InvalidEvent as exc:
        return _reject(400, str(exc))

    key = _delivery_key(body)
    handled = state.runtime.dispatcher.handles(event.webhook_event)
    status = RECEIVED if handled else IGNORED
    try:
        stored = state.runtime.deliveries.record(
            key=key,
            event=event.webhook_event,
            subject=event.subject,
            issue_key=event.issue_key,
            actor=event.actor.ref if event.actor else None,
            body=body,
            auth=auth,
            status=status,
            jira_retry=_int_header(RETRY_HEADER),
        )
    except StoreUnavailableError as exc:  # PostgreSQL down or failing over: Jira retries a 503
        log.error("delivery not stored: %s", exc)
        return _reject(503, "the delivery log cannot be reached; nothing was stored, send it again")
    fields = {"key": key, "event": event.webhook_event, "issue": event.subject}
    if not stored:
        log.info("delivery duplicate", extra={"fields": {**fields, "outcome": "duplicate"}})
        return jsonify(status="duplicate", key=key), 200
    if handled:
        try:
            state.queue.enqueue(key)
        except Exception:  # the delivery is safe in the log; recovery will queue it again
            log.exception("could not queue a stored delivery", extra={"fields": fields})
        log.debug("delivery received", extra={"fields": {**fields, "outcome": status}})
        return jsonify(status="accepted", key=key), 202
    log.info("delivery ignored", extra={"fields": {**fields, "outcome": IGNORED}})
    return jsonify(status="ignored", key=key), 202


def _delivery_key(body: bytes) -> str:
    """Jira's delivery id (the same on every retry), else a hash of the body."""
    given = (request.headers.get(DELIVERY_ID_HEADER) or "").strip()
    if given and len(given) <= MAX_KEY_LENGTH and given.isprintable():
        return given
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _int_header(name: str) -> int | None:
    """A small count such as Jira's retry number; None when absent or anything else."""
    value = request.headers.get(name, "").strip()
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 9 else None


def _reject(status: int, reason: str) -> tuple[Response, int]:
    log.warning(
        "delivery rejected",
        extra={"fields": {"http_status": status, "reason": reason, "remote": request.remote_addr}},
    )
    return jsonify(status="rejected", reason=reason), status
