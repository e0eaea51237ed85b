"""The HTTP edge: receive Jira webhooks (verify, record, queue), health and metrics.

Thin by design: parse, verify, record, hand on. Work happens in workers (`webhooks.pipeline`).
`hindsight.wsgi` builds the runtime (`hindsight.wiring`) and calls `create_app` (gunicorn runs
`hindsight.wsgi:create_app()`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from flask import Blueprint, Flask, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge, ServiceUnavailable

from kb.errors import StoreUnavailableError
from plugin.audit import open_audit_log
from plugin.jira.report_only import ReportOnlyJira
from webhooks.queue import DeliveryQueue, build_delivery_queue
from webhooks.request_body import BodyTooLarge
from webhooks.state import EXTENSION, AppState, WebhookRuntime
from webhooks.web import LessonsWeb, register_lessons_web
from webhooks.web.audit import PolicyAuditSource

log = logging.getLogger(__name__)

# What a reader is told when a store's database is out of reach. The reason (which names the
# server, its user and what to check) goes to the service log only: it is for the operator.
DATABASE_UNAVAILABLE = (
    "the database cannot be reached just now; try again in a minute (the service log says why)"
)
RETRY_AFTER_S = 30


def create_app(
    runtime: WebhookRuntime,
    *,
    queue: DeliveryQueue | None = None,
    test_config: Mapping[str, Any] | None = None,
    blueprints: Iterable[Blueprint] = (),
) -> Flask:
    """The Flask app over a runtime; `queue` defaults to the one the edge options name.

    Everything the views use is built here, once, not on the first request.
    """
    max_body_bytes = runtime.edge.max_body_bytes
    app = Flask(__name__)
    # werkzeug refuses longer bodies (also chunked ones) before the view reads them
    app.config["MAX_CONTENT_LENGTH"] = max_body_bytes
    if test_config:
        app.config.update(test_config)
    queue = queue or build_delivery_queue(runtime)
    app.extensions[EXTENSION] = AppState(runtime=runtime, queue=queue)
    web = runtime.web
    lessons_web = LessonsWeb(
        services=runtime.lessons,
        access=web.access,
        audit=PolicyAuditSource(open_audit_log(web.audit_db)) if web.audit_db is not None else None,
        # "Create in Jira" for action items: the real port, else one that only plans the write
        jira=(lambda: jira) if (jira := runtime.jira) is not None else ReportOnlyJira,
        report_only=runtime.jira is None,
        jira_url=web.jira_url,
    )

    from webhooks import ops, policy_api, receive

    app.register_blueprint(receive.blueprint)
    app.register_blueprint(ops.blueprint)
    app.register_blueprint(policy_api.blueprint)
    # Other areas' pages: add one line here, e.g. app.register_blueprint(lessons.blueprint)
    register_lessons_web(app, lessons_web)  # the lessons pages and JSON API (webhooks.web)
    for blueprint in blueprints:
        app.register_blueprint(blueprint)

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(exc: RequestEntityTooLarge):  # JSON for Jira's logs, not an HTML page
        if isinstance(exc, BodyTooLarge):  # raised by read_body, which names its own limit
            return jsonify(status="rejected", reason=exc.description), 413
        limit = max_body_bytes
        return jsonify(status="rejected", reason=f"body is over the limit of {limit} bytes"), 413

    @app.errorhandler(StoreUnavailableError)
    def _database_unavailable(exc: StoreUnavailableError):
        """A store's database out of reach (PostgreSQL restarting or failing over) is a 503 on
        every page and API, never a 500, and never shows readers the server's name or user."""
        log.error("database unavailable for %s %s: %s", request.method, request.path, exc)
        headers = {"Retry-After": str(RETRY_AFTER_S)}
        if request.path.startswith("/api/"):
            return jsonify(error=DATABASE_UNAVAILABLE, status=503), 503, headers
        return ServiceUnavailable(DATABASE_UNAVAILABLE).get_response(), headers

    return app
