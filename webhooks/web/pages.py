"""The project managers' pages: search, lesson, retrospectives, projects, their CSV and JSON
exports, and feedback links (the audit log and the dashboard: `webhooks.web.oversight`).

Server-rendered HTML; every page is read-only except the feedback form, which records the answer
a signed link carries. Markdown is sanitised; no page runs any script (see access.CSP). Issue keys
link to Jira when a Jira URL is configured; tags and projects link to their filtered lists.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from markupsafe import Markup, escape

from kb.errors import (
    InvalidQueryError,
    KnowledgeBaseError,
    LessonNotFoundError,
    StoreUnavailableError,
)
from kb.records import KINDS, SORTS, Lesson, RetrospectiveSummary, SearchHit
from plugin.export import FORMATS
from plugin.lessons.signing import InvalidFeedbackToken
from webhooks.request_body import BodyTooLarge, read_body
from webhooks.web.access import check_access, secure_headers
from webhooks.web.audit import AuditRows
from webhooks.web.context import lessons_web
from webhooks.web.downloads import check_format, download
from webhooks.web.params import (
    MAX_PAGE,
    SEARCH_MODES,
    BadParameter,
    choice_param,
    date_param,
    int_param,
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
PAGE_RESULTS = 25  # search results, or listed lessons, per page
RETROS_PER_PAGE = 50
BROWSE_EXPORT_ROWS = 5_000  # lessons a filtered list exports at most
ISSUE_KEY = re.compile(r"[A-Z][A-Z0-9_]*-[1-9][0-9]*")


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


@blueprint.app_template_filter("issue")
def issue_link(key: str) -> Markup:
    """An issue key as a link to it in Jira; plain text without a Jira URL or for a non-key."""
    jira = lessons_web().jira_url
    if not jira or not ISSUE_KEY.fullmatch(key or ""):
        return escape(key)
    return Markup('<a class="issue" href="{}/browse/{}" rel="noopener noreferrer">{}</a>').format(
        jira.rstrip("/"), quote(key), key
    )


@blueprint.get("/")
def home() -> Response:
    return redirect(url_for("pages.search"))


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


@dataclass(frozen=True)
class Listing:
    """What the search page shows: a page of lessons, each with its reasons, and the count."""

    results: list[dict[str, Any]]
    total: int = 0
    capped: bool = False
    offset: int = 0


def _search_form() -> dict[str, str]:
    form = {key: text_param(key) for key in ("q", "project", "kind", "tag", "since")}
    form["mode"] = text_param("mode") or "hybrid"
    # "relevance" without a query lists newest first; the form keeps it for the next query
    form["sort"] = text_param("sort") or "relevance"
    return form


def _listing(form: Mapping[str, str], *, offset: int, limit: int) -> Listing:
    """Search results for `form` (or, without a query, the lessons its filters choose).

    Raises BadParameter for a malformed value, InvalidQueryError / KnowledgeBaseError from kb.
    """
    web = lessons_web()
    store = web.services.store
    mode = choice_param("mode", SEARCH_MODES, "hybrid")
    sort = choice_param("sort", SORTS, form["sort"])
    filters = {
        "project": form["project"] or None,
        "kind": form["kind"] or None,
        "tag": form["tag"] or None,
        "since": date_param("since"),
    }
    if store is None:
        return Listing([])
    if form["q"]:
        # Strong matches only: a similarity the model's calibration trusts (keyword mode: every
        # keyword match), so the count is of lessons worth reading, never a padded list.
        found = store.search_page(
            form["q"],
            offset=offset,
            limit=limit,
            sort=sort,
            mode=mode,
            strong_only=True,
            **filters,
        )
        tallies = web.services.journal.tallies(hit.id for hit in found.hits)
        results = [
            {
                "hit": hit,
                "why": why(
                    hit,
                    getattr(tallies.get(hit.id), "helpful", 0),
                    getattr(tallies.get(hit.id), "not_relevant", 0),
                ),
            }
            for hit in found.hits
        ]
        return Listing(results, found.total, found.capped, offset)
    if not any(filters.values()):
        return Listing([])
    if sort == "relevance":
        sort = "date"  # nothing to be relevant to: newest first
    listed = store.browse(sort=sort, offset=offset, limit=limit, **filters)
    return Listing([{"hit": lesson, "why": []} for lesson in listed.lessons], listed.total)


def group_by_retrospective(
    results: Sequence[dict[str, Any]],
    retros: Mapping[str, RetrospectiveSummary],
    *,
    keep_order: bool = False,
) -> list[dict[str, Any]]:
    """Results under their retrospective, retrospectives in the order of their best result.

    Eleven cards in a row carrying one retrospective's title say it once, with eleven lessons.
    With `keep_order` (a list sorted by date or votes) only neighbours are grouped, so the
    list's order stays exactly as sorted.
    """
    groups: list[dict[str, Any]] = []
    by_retro: dict[str, dict[str, Any]] = {}
    for result in results:
        key = result["hit"].retrospective_id
        group = groups[-1] if keep_order and groups and groups[-1]["id"] == key else None
        if not keep_order:
            group = by_retro.get(key)
        if group is None:
            group = {"id": key, "retro": retros.get(key), "results": []}
            groups.append(group)
            by_retro[key] = group
        group["results"].append(result)
    return groups


def _page_url(endpoint: str, page: int, **values: Any) -> str:
    args = {k: v for k, v in request.args.items() if k not in {"page", "token"} and v}
    args.update({k: v for k, v in values.items() if v})
    return url_for(endpoint, **args, **({"page": page} if page > 1 else {}))


def pager(endpoint: str, page: int, per_page: int, total: int, **values: Any) -> dict[str, Any]:
    """Previous and next page links of a numbered listing, and which items this page holds."""
    last = max(1, min(MAX_PAGE, -(-total // per_page)))
    return {
        "page": page,
        "pages": last,
        "first": (page - 1) * per_page + 1,
        "last": min(total, page * per_page),
        "previous": _page_url(endpoint, page - 1, **values) if page > 1 else None,
        "next": _page_url(endpoint, page + 1, **values) if page < last else None,
    }


@blueprint.get("/lessons")
def search() -> tuple[str, int]:
    web = lessons_web()
    form = _search_form()
    error = None
    status = 200
    store = web.services.store
    listing = Listing([])
    page = 1
    try:  # a bad filter is shown on the form itself, with a 400
        page = int_param("page", 1, 1, MAX_PAGE)
        listing = _listing(form, offset=(page - 1) * PAGE_RESULTS, limit=PAGE_RESULTS)
    except BadParameter as exc:
        error, status = exc.description, 400
    except InvalidQueryError as exc:  # kb says what is wrong; any other error is a bug: a 500
        error, status = str(exc), 400
    except StoreUnavailableError:
        raise  # the app's handler: a 503 that does not show the server's name
    except KnowledgeBaseError as exc:
        error, status = str(exc), 503
    stats = store.stats() if store is not None else None
    ids = [r["hit"].retrospective_id for r in listing.results]
    retros = store.retrospectives_by_id(ids) if store is not None and ids else {}
    page_html = render_template(
        "search.html",
        form=form,
        listing=listing,
        groups=group_by_retrospective(
            listing.results, retros, keep_order=form["sort"] != "relevance" or not form["q"]
        ),
        pager=pager("pages.search", page, PAGE_RESULTS, listing.total),
        sorts=SORTS,
        error=error,
        kinds=sorted(set(KINDS) | set(stats.by_kind if stats else ())),
        projects=sorted(p for p in (stats.by_project if stats else {}) if p),
        stats=stats,
        export={f: _page_url("pages.export_lessons", 1, fmt=f) for f in FORMATS},
    )
    return page_html, status


LESSON_COLUMNS = (
    "rank", "id", "headline", "text", "kind", "project", "tags", "date", "votes",
    "retrospective", "retrospective_url", "team", "lesson_page", "similarity",
)  # fmt: skip


def _export_row(
    rank: int, hit: SearchHit | Lesson, retro: RetrospectiveSummary | None
) -> dict[str, Any]:
    """A lesson as an export row: where it came from is its retrospective, never a path."""
    return {
        "rank": rank,
        "id": hit.id,
        "headline": hit.headline,
        "text": hit.text,
        "kind": hit.kind,
        "project": hit.project,
        "tags": list(hit.tags),
        "date": hit.date,
        "votes": hit.votes,
        "retrospective": retro.title if retro else None,
        "retrospective_url": retro.url if retro else hit.url,
        "team": retro.team if retro else None,
        "lesson_page": url_for("pages.lesson", lesson_id=hit.id, _external=True),
        "similarity": getattr(hit, "similarity", None),
    }


@blueprint.get("/lessons/export.<fmt>")
def export_lessons(fmt: str) -> Response:
    """Every result of a search (or a filtered list) as CSV or JSON, in the page's order."""
    check_format(fmt)
    web = lessons_web()
    form = _search_form()
    store = web.services.store
    if store is None:
        abort(503, "no knowledge base is configured")
    limit = store.settings.max_results if form["q"] else BROWSE_EXPORT_ROWS
    try:
        listing = _listing(form, offset=0, limit=limit)
    except InvalidQueryError as exc:  # kb says what is wrong; any other error is a bug: a 500
        abort(400, str(exc))
    except StoreUnavailableError:
        raise  # the app's handler: a 503 that does not show the server's name
    except KnowledgeBaseError as exc:
        abort(503, str(exc))
    hits = [r["hit"] for r in listing.results]
    retros = store.retrospectives_by_id(h.retrospective_id for h in hits)
    rows = [_export_row(n, h, retros.get(h.retrospective_id)) for n, h in enumerate(hits, 1)]
    meta = {"query": form["q"], "total": listing.total, "capped": listing.capped}
    return download(fmt, "lessons", LESSON_COLUMNS, rows, meta)


@blueprint.get("/lessons/<path:lesson_id>")
def lesson(lesson_id: str) -> str:
    web = lessons_web()
    try:
        found = web.services.index.get(lesson_id)
    except LessonNotFoundError:
        abort(404, f"no lesson has id {lesson_id!r}")
    tally = web.services.journal.tallies([found.id]).get(found.id)
    suggested_on = web.services.journal.issues_suggested(found.id)
    store = web.services.store
    retro = None
    if store is not None and found.retrospective_id:
        retro = store.retrospectives_by_id([found.retrospective_id]).get(found.retrospective_id)
    return render_template(
        "lesson.html", lesson=found, tally=tally, suggested_on=suggested_on, retro=retro
    )


@blueprint.get("/retrospectives")
def retrospectives() -> str:
    web = lessons_web()
    project = text_param("project")
    page = int_param("page", 1, 1, MAX_PAGE)
    store = web.services.store
    found: list[RetrospectiveSummary] = []
    total = 0
    if store is not None:
        found, total = store.retrospectives(
            project=project or None, offset=(page - 1) * RETROS_PER_PAGE, limit=RETROS_PER_PAGE
        )
    return render_template(
        "retrospectives.html",
        retros=found,
        total=total,
        project=project,
        pager=pager("pages.retrospectives", page, RETROS_PER_PAGE, total),
    )


@blueprint.get("/retrospectives/<retro_id>")
def retrospective(retro_id: str) -> str:
    store = lessons_web().services.store
    if store is None:
        abort(404, "no knowledge base is configured")
    try:
        retro, lessons = store.retrospective(retro_id)
    except LessonNotFoundError as exc:
        abort(404, str(exc))
    return render_template("retrospective.html", retro=retro, lessons=lessons)


@blueprint.get("/projects/<key>")
def project(key: str) -> str:
    """Everything about one project: its lessons, what was seeded and suggested there, with the
    answers, and its policy outcomes."""
    web = lessons_web()
    key = key.strip().upper()
    if not re.fullmatch(r"[A-Z][A-Z0-9_]{0,49}", key):
        abort(404, f"{key[:60]!r} is not a project key (letters, digits and _)")
    store = web.services.store
    journal = web.services.journal
    lessons = store.browse(project=key, limit=10) if store is not None else None
    seed = journal.seed(key)
    seeded = _existing_lessons(seed.lesson_ids) if seed else []
    suggested = journal.project_suggestions(key, limit=50)
    suggested_lessons = {
        lesson.id: lesson
        for lesson in _existing_lessons(dict.fromkeys(s.lesson_id for s in suggested))
    }
    outcomes: AuditRows | None = None
    counts: dict[str, int] = {}
    if web.audit is not None:
        outcomes = web.audit.entries(project=key, limit=20)
        since = (date.today() - timedelta(days=29)).isoformat()
        for c in web.audit.outcome_counts(since=since):
            if c.project == key:
                counts[c.outcome] = counts.get(c.outcome, 0) + c.count
    return render_template(
        "project.html",
        key=key,
        lessons=lessons,
        seed=seed,
        seeded=seeded,
        suggested=suggested,
        suggested_lessons=suggested_lessons,
        outcomes=outcomes,
        counts=counts,
        action_items=store.actions.open_action_items(key, limit=50) if store else None,
        today=store.actions.today() if store else date.today(),
    )


def _existing_lessons(ids: Iterable[str]) -> list[Lesson]:
    """The lessons with these ids that still exist (a re-ingest may have removed some)."""
    index = lessons_web().services.index
    found = []
    for lesson_id in ids:
        try:
            found.append(index.get(lesson_id))
        except LessonNotFoundError:
            continue
    return found


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
