"""Operations endpoints: `/healthz` (alive), `/readyz` (able to work), `/metrics` (Prometheus)."""

from __future__ import annotations

import threading
import time

from flask import Blueprint, Response, jsonify

from plugin.jira.errors import JiraApiError
from webhooks.metrics import CONTENT_TYPE, render_metrics
from webhooks.state import app_state

blueprint = Blueprint("ops", __name__)

# Ask Jira at most this often; a probe every few seconds must not become Jira load.
JIRA_CHECK_SECONDS = 30.0
_jira_check: dict[str, object] = {"at": 0.0, "ok": False, "detail": ""}
_jira_lock = threading.Lock()


@blueprint.get("/healthz")
def healthz() -> tuple[Response, int]:
    return jsonify(status="ok"), 200


@blueprint.get("/readyz")
def readyz() -> tuple[Response, int]:
    runtime = app_state().runtime
    store = runtime.deliveries
    checks: dict[str, dict[str, object]] = {}
    database = store.writable()
    checks["database"] = {"ok": database}
    # the heartbeats live in the database: none can be read while it is out of reach
    workers = len(store.workers.live_workers()) if database else 0
    checks["worker"] = {"ok": workers > 0, "alive": workers}
    if runtime.jira is not None:
        ok, detail = _jira_reachable(runtime.jira)
        checks["jira"] = {"ok": ok, "detail": detail}
    ready = all(check["ok"] for check in checks.values())
    return jsonify(status="ready" if ready else "not ready", checks=checks), 200 if ready else 503


@blueprint.get("/metrics")
def metrics() -> Response:
    return Response(render_metrics(app_state().runtime.deliveries), content_type=CONTENT_TYPE)


def _jira_reachable(jira: object) -> tuple[bool, str]:
    with _jira_lock:
        if time.monotonic() - float(_jira_check["at"]) < JIRA_CHECK_SECONDS:  # type: ignore[arg-type]
            return bool(_jira_check["ok"]), str(_jira_check["detail"])
        try:
            jira.myself()  # type: ignore[attr-defined]
            ok, detail = True, ""
        except JiraApiError as exc:
            ok, detail = False, str(exc)
        _jira_check.update(at=time.monotonic(), ok=ok, detail=detail)
        return ok, detail
