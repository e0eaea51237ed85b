"""The lessons JSON API (described in docs/openapi.yaml): search, read, suggestions, feedback.

Read-only behind the same access rules as the pages; the feedback endpoint is open because its
signed token is its authorisation.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from kb.errors import (
    InvalidQueryError,
    KnowledgeBaseError,
    LessonNotFoundError,
    StoreUnavailableError,
)
from kb.records import SORTS
from plugin.lessons.journal import HelpfulRate
from plugin.lessons.signing import InvalidFeedbackToken
from webhooks.request_body import InvalidJson, parse_json, read_body
from webhooks.web.access import check_access, secure_headers
from webhooks.web.context import lessons_web
from webhooks.web.pages import why
from webhooks.web.params import (
    SEARCH_MODES,
    BadParameter,
    choice_param,
    date_param,
    int_param,
    text_param,
)

blueprint = Blueprint("api_lessons", __name__, url_prefix="/api/lessons")
MAX_LIMIT = 100
FEEDBACK_BODY_LIMIT = 16 * 1024  # {"token": ...}: a few hundred bytes


@blueprint.before_request
def _guard() -> Response | None:
    if request.endpoint == "api_lessons.feedback":
        return None
    if request.method not in {"GET", "HEAD", "OPTIONS"}:
        return _error(405, "this API is read-only")
    return check_access(lessons_web().access, api=True)


@blueprint.after_request
def _headers(response: Response) -> Response:
    return secure_headers(response)


@blueprint.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> tuple[Response, int]:
    response, status = _error(exc.code or 500, exc.description or exc.name)
    for name, value in exc.get_headers():  # e.g. a 405's Allow header
        if name.lower() != "content-type":
            response.headers[name] = value
    return response, status


def json_errors_for_api_paths(exc: HTTPException) -> tuple[Response, int] | HTTPException:
    """App-wide: JSON for an /api/ path no route matched (Flask routes before it knows the
    blueprint, so `_http_error` never sees these), werkzeug's own page for any other path."""
    return _http_error(exc) if request.path.startswith("/api/") else exc


def _error(status: int, message: str) -> tuple[Response, int]:
    return jsonify(error=message, status=status), status


@blueprint.get("/search")
def search() -> Response | tuple[Response, int]:
    web = lessons_web()
    query = text_param("q")
    if not query:
        raise BadParameter("give the search text as ?q=")
    limit = int_param("limit", 10, 1, MAX_LIMIT)
    mode = choice_param("mode", SEARCH_MODES, "hybrid")
    sort = choice_param("sort", SORTS, "relevance")
    since = date_param("since")
    store = web.services.store
    if store is None:
        return _error(503, "no knowledge base is configured")
    offset = int_param("offset", 0, 0, store.settings.max_results - 1)
    try:
        found = store.search_page(
            query,
            offset=offset,
            limit=limit,
            sort=sort,
            mode=mode,
            project=text_param("project") or None,
            kind=text_param("kind") or None,
            tag=text_param("tag") or None,
            since=since,
            strong_only=True,  # weak matches are not results: an empty list means none
        )
    except InvalidQueryError as exc:  # kb says what is wrong; any other error is a bug: a 500
        raise BadParameter(str(exc)) from None
    except StoreUnavailableError:
        raise  # the app's handler: a 503 that does not show the server's name
    except KnowledgeBaseError as exc:
        return _error(503, str(exc))
    hits = found.hits
    tallies = web.services.journal.tallies(hit.id for hit in hits)
    results = []
    for hit in hits:
        tally = tallies.get(hit.id)
        helpful, not_relevant = (tally.helpful, tally.not_relevant) if tally else (0, 0)
        item: dict[str, Any] = hit.to_dict()
        item["why"] = why(hit, helpful, not_relevant)
        item["feedback"] = {"helpful": helpful, "not_relevant": not_relevant}
        results.append(item)
    return jsonify(
        query=query,
        count=len(results),
        total=found.total,
        capped=found.capped,
        offset=offset,
        limit=limit,
        sort=sort,
        results=results,
    )


@blueprint.get("/suggestions/<issue_key>")
def suggestions(issue_key: str) -> Response:
    journal = lessons_web().services.journal
    rows = journal.suggestions(issue_key, active_only=False)
    return jsonify(
        issue=issue_key,
        suggestions=[
            {
                "lesson_id": s.lesson_id,
                "similarity": s.similarity,
                "score": s.score,
                "position": s.position,
                "active": s.active,
                "answer": s.answer,
            }
            for s in rows
        ],
    )


@blueprint.get("/stats")
def stats() -> Response:
    web = lessons_web()
    overall = web.services.journal.helpful_rates(by_day=False)
    days = web.services.journal.helpful_rates(by_day=True)
    store = web.services.store.stats().to_dict() if web.services.store else None

    def rate(r: Any) -> dict[str, Any]:
        return {
            "period": r.period,
            "suggested": r.suggested,
            "helpful": r.helpful,
            "not_relevant": r.not_relevant,
            "helpful_rate": r.rate,
        }

    return jsonify(
        store=store,
        suggestions=rate(overall[0] if overall else HelpfulRate("all", 0, 0, 0)),
        by_day=[rate(r) for r in days],
    )


@blueprint.post("/feedback")
def feedback() -> tuple[Response, int] | Response:
    try:
        body = parse_json(read_body(FEEDBACK_BODY_LIMIT))
    except InvalidJson as exc:
        return _error(400, f'{exc}; send {{"token": "<the t= value of a feedback link>"}}')
    token = body.get("token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        return _error(400, 'send {"token": "<the t= value of a feedback link>"} as JSON')
    services = lessons_web().services
    try:
        claim = services.signer.verify(token)
    except InvalidFeedbackToken as exc:
        return _error(400, str(exc))
    changed = services.journal.record_feedback(claim.issue_key, claim.lesson_id, claim.answer)
    return jsonify(
        issue=claim.issue_key, lesson_id=claim.lesson_id, answer=claim.answer, changed=changed
    )


@blueprint.get("/<path:lesson_id>")
def lesson(lesson_id: str) -> Response | tuple[Response, int]:
    web = lessons_web()
    try:
        found = web.services.index.get(lesson_id)
    except LessonNotFoundError as exc:
        return _error(404, str(exc))
    data = found.to_dict()
    tally = web.services.journal.tallies([found.id]).get(found.id)
    data["feedback"] = {
        "helpful": tally.helpful if tally else 0,
        "not_relevant": tally.not_relevant if tally else 0,
    }
    return jsonify(data)
