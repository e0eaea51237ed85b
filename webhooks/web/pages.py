"""The project managers' pages: search, lesson, source, audit, dashboard, and feedback links.

Server-rendered HTML; every page is read-only except the feedback form, which records the answer
a signed link carries. Markdown is sanitised; no page runs any script (see access.CSP).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Any, get_args

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for

from kb.errors import InvalidQueryError, KnowledgeBaseError, LessonNotFoundError
from kb.records import KINDS, SearchHit
from plugin.lessons.signing import InvalidFeedbackToken
from plugin.policy.decision import DecisionStatus
from webhooks.request_body import BodyTooLarge, read_body
from webhooks.web.access import check_access, secure_headers
from webhooks.web.audit import AuditRows
from webhooks.web.charts import bars_with_rate, stacked_bars
from webhooks.web.context import lessons_web
from webhooks.web.params import (
    SEARCH_MODES,
    BadParameter,
    choice_param,
    date_param,
    int_param,
    since_param,
    text_param,
)
from webhooks.web.render import render_markdown

blueprint = Blueprint(
    "pages",
    __name__,
    template_folder="../templates",
    static_folder="../static",
    static_url_path="/assets",
)
OPEN_ENDPOINTS = {"pages.feedback", "pages.static"}
# The only form is the feedback confirmation: one signed token of a few hundred bytes.
FORM_BODY_LIMIT = 16 * 1024
OUTCOME_COLORS = {"pass": "#2f6f4f", "fail": "#c0392b", "error": "#7d3c98", "skipped": "#aab7b8"}
OUTCOMES = get_args(DecisionStatus)
AUDIT_PAGE_ROWS = 200  # decisions per page of /audit; older ones are a click away
MAX_ROW_ID = 10**12 - 1  # the largest `before` cursor accepted


@blueprint.before_request
def _guard() -> Response | None:
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    if request.method not in {"GET", "HEAD"}:
        abort(405)
    return check_access(lessons_web().access, api=False)


@blueprint.after_request
def _headers(response: Response) -> Response:
    return secure_headers(response)


@blueprint.errorhandler(BodyTooLarge)
def _too_large(exc: BodyTooLarge) -> BodyTooLarge:
    return exc  # werkzeug's HTML error page with the limit, not the webhook's JSON answer


@blueprint.app_template_filter("markdown")
def _markdown(text: str) -> Any:
    return render_markdown(text)


@blueprint.get("/")
def home() -> Response:
    return redirect(url_for("pages.search"))


PAGE_RESULTS = 25


def why(hit: SearchHit, helpful: int = 0, not_relevant: int = 0) -> list[str]:
    """Plain reasons a hit is in the list: matched words, each ranking's verdict, feedback."""
    reasons = []
    words = dict.fromkeys(hit.snippet.text[a:b].lower() for a, b in hit.snippet.highlights)
    if words:
        reasons.append("matches the words " + ", ".join(f"“{w}”" for w in list(words)[:6]))
    if "keyword" in hit.found_by:
        reasons.append(f"keyword ranking placed it #{hit.found_by['keyword']}")
    if "semantic" in hit.found_by:
        similar = f" (similarity {hit.similarity:.2f})" if hit.similarity is not None else ""
        reasons.append(f"meaning ranking placed it #{hit.found_by['semantic']}{similar}")
    if helpful or not_relevant:
        reasons.append(f"people found it helpful {helpful}×, not relevant {not_relevant}×")
    return reasons


@blueprint.get("/lessons")
def search() -> tuple[str, int]:
    web = lessons_web()
    form = {key: text_param(key) for key in ("q", "project", "kind", "tag", "since")}
    form["mode"] = text_param("mode") or "hybrid"
    hits: list[SearchHit] = []
    more = False
    error = None
    status = 200
    tallies: dict[str, Any] = {}
    store = web.services.store
    try:  # a bad filter is shown on the form itself, with a 400
        mode = choice_param("mode", SEARCH_MODES, "hybrid")
        since = date_param("since")
    except BadParameter as exc:
        error, status = exc.description, 400
    if form["q"] and store is not None and error is None:
        try:
            # Strong matches only (a similarity the model's calibration trusts), and one more
            # than shown, so the page can say truly whether there are more.
            hits = store.search(
                form["q"],
                limit=PAGE_RESULTS + 1,
                mode=mode,
                project=form["project"] or None,
                kind=form["kind"] or None,
                tag=form["tag"] or None,
                since=since,
                strong_only=True,
            )
            more = len(hits) > PAGE_RESULTS
            hits = hits[:PAGE_RESULTS]
            tallies = web.services.journal.tallies(hit.id for hit in hits)
        except (InvalidQueryError, ValueError) as exc:
            error, status = str(exc), 400
        except KnowledgeBaseError as exc:
            error, status = str(exc), 503
    stats = store.stats() if store is not None else None
    results = [
        {
            "hit": hit,
            "why": why(
                hit,
                getattr(tallies.get(hit.id), "helpful", 0),
                getattr(tallies.get(hit.id), "not_relevant", 0),
            ),
        }
        for hit in hits
    ]
    page = render_template(
        "search.html",
        form=form,
        results=results,
        more=more,
        error=error,
        kinds=sorted(set(KINDS) | set(stats.by_kind if stats else ())),
        projects=sorted(p for p in (stats.by_project if stats else {}) if p),
        stats=stats,
    )
    return page, status


@blueprint.get("/lessons/<path:lesson_id>")
def lesson(lesson_id: str) -> str:
    web = lessons_web()
    try:
        found = web.services.index.get(lesson_id)
    except LessonNotFoundError:
        abort(404, f"no lesson has id {lesson_id!r}")
    tally = web.services.journal.tallies([found.id]).get(found.id)
    suggested_on = web.services.journal.issues_suggested(found.id)
    return render_template("lesson.html", lesson=found, tally=tally, suggested_on=suggested_on)


@blueprint.get("/sources")
def source() -> str:
    web = lessons_web()
    uri = text_param("uri")
    store = web.services.store
    if not uri or store is None:
        abort(400, "give the source as ?uri=")
    lessons = store.lessons_from(uri)
    if not lessons:
        abort(404, f"no lessons come from {uri!r}")
    is_link = uri.startswith(("https://", "http://"))
    return render_template("source.html", uri=uri, lessons=lessons, is_link=is_link)


@blueprint.get("/audit")
def audit() -> str:
    web = lessons_web()
    filters = {key: text_param(key) for key in ("issue", "rule", "project")}
    filters["outcome"] = choice_param("outcome", ("", *OUTCOMES), "")
    filters["since"] = since_param("since") or ""
    before = int_param("before", 0, 1, MAX_ROW_ID) or None
    found = AuditRows([])
    if web.audit is not None:
        found = web.audit.entries(
            issue=filters["issue"] or None,
            rule=filters["rule"] or None,
            project=filters["project"] or None,
            outcome=filters["outcome"] or None,
            since=filters["since"] or None,
            before=before,
            limit=AUDIT_PAGE_ROWS,
        )
    chosen = {key: value for key, value in filters.items() if value}
    older = url_for("pages.audit", **chosen, before=found.older) if found.older else None
    return render_template(
        "audit.html",
        rows=found.rows,
        filters=filters,
        outcomes=OUTCOMES,
        older=older,
        newest=url_for("pages.audit", **chosen) if before is not None else None,
        available=web.audit is not None,
    )


@blueprint.get("/dashboard")
def dashboard() -> str:
    web = lessons_web()
    days_back = int_param("days", 30, 1, 366)
    since = (date.today() - timedelta(days=days_back - 1)).isoformat()
    days = [(date.fromisoformat(since) + timedelta(days=i)).isoformat() for i in range(days_back)]
    outcome_chart, by_rule = None, []
    if web.audit is not None:
        counts = web.audit.outcome_counts(since=since)
        outcomes = sorted({c.outcome for c in counts})
        series = {o: [0] * len(days) for o in outcomes}
        table: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for c in counts:
            if c.day in days:
                series[c.outcome][days.index(c.day)] += c.count
            table[(c.rule, c.project)][c.outcome] += c.count
        outcome_chart = stacked_bars(
            days, series, title="Policy decisions per day by outcome", colors=OUTCOME_COLORS
        )
        by_rule = [
            {"rule": rule, "project": project, "outcomes": dict(found)}
            for (rule, project), found in sorted(table.items())
        ]
    rates = {r.period: r for r in web.services.journal.helpful_rates(since=since)}
    overall = web.services.journal.helpful_rates(by_day=False)
    helpful_chart = bars_with_rate(
        days,
        [rates[d].suggested if d in rates else 0 for d in days],
        [rates[d].rate if d in rates else None for d in days],
        title="Lessons suggested per day and the share of answers that said helpful",
        count_label="lessons suggested",
        rate_label="helpful rate",
    )
    return render_template(
        "dashboard.html",
        outcome_chart=outcome_chart,
        by_rule=by_rule,
        outcomes=sorted({o for row in by_rule for o in row["outcomes"]}),
        helpful_chart=helpful_chart,
        overall=overall[0] if overall else None,
        days_back=days_back,
        audit_available=web.audit is not None,
    )


@blueprint.route("/lessons/feedback", methods=["GET", "POST"])
def feedback() -> tuple[str, int] | str:
    """GET shows what the link will record; POST records it (link scanners only GET)."""
    web = lessons_web()
    if request.method == "POST":
        read_body(FORM_BODY_LIMIT)  # 413 past it; request.values parses these cached bytes
    token = request.values.get("t", "")
    try:
        claim = web.services.signer.verify(token)
    except InvalidFeedbackToken as exc:
        return render_template("feedback.html", error=str(exc), claim=None, token=""), 400
    try:
        found = web.services.index.get(claim.lesson_id)
    except LessonNotFoundError:
        found = None
    recorded = False
    if request.method == "POST":
        web.services.journal.record_feedback(claim.issue_key, claim.lesson_id, claim.answer)
        recorded = True
    return render_template(
        "feedback.html", claim=claim, lesson=found, token=token, recorded=recorded, error=None
    )
