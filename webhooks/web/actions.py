"""Action items on the web: the list, one item's page, and the editors' forms.

Readers see `/actions` (filtered by project, status, overdue) and `/actions/<id>`. Editors add
items (from a lesson's page or the list), change an item's status, and press "Create in Jira",
which goes through `plugin.lessons.actions.ActionItemPusher` (exactly once; report-only aware).
Every POST is checked like the curation forms (`forms.check_form`, `access.editor`).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, g, redirect, render_template, request, url_for

from kb.actions import STATUSES, ActionItem, ActionItemNotFound, ActionItems, JiraPushBusy
from kb.curation import CurationError
from kb.errors import LessonNotFoundError
from kb.records import retrospective_id
from plugin.export import FORMATS
from plugin.jira.errors import JiraApiError
from plugin.lessons.actions import ActionPushError
from webhooks.web.access import check_access, editor, editor_refusal, secure_headers
from webhooks.web.context import lessons_web
from webhooks.web.downloads import check_format, download
from webhooks.web.forms import check_form
from webhooks.web.params import MAX_PAGE, BadParameter, choice_param, int_param, text_param

blueprint = Blueprint("actions", __name__, template_folder="../templates")
PANEL_ROWS = 10
PAGE_ITEMS = 100  # action items a page of the list shows


@blueprint.before_request
def _guard() -> Response | None:
    web = lessons_web()
    refused = check_access(web.access, api=False)
    if refused is not None:
        return refused
    if request.method not in {"GET", "HEAD", "POST"}:
        abort(405)
    if web.services.store is None:
        abort(503, "no knowledge base is configured")
    g.form = {}
    if request.method == "POST":
        g.form = check_form(web.access)
        g.editor = editor(web.access)
        if g.editor is None:
            abort(403, editor_refusal(web.access))
    return None


@blueprint.after_request
def _headers(response: Response) -> Response:
    return secure_headers(response)


def _items() -> ActionItems:
    store = lessons_web().services.store
    assert store is not None  # _guard refused the request otherwise
    return store.actions


def _item(item_id: str) -> ActionItem:
    try:
        return _items().get(item_id)
    except ActionItemNotFound:
        abort(404, f"no action item has id {item_id!r}")


def _back(item_id: str, **message: str) -> Response:
    return redirect(url_for("actions.item", item_id=item_id, **message), code=303)


EXPORT_ROWS = 10_000  # the most action items one download holds
ACTION_COLUMNS = (
    "id", "text", "owner", "due", "status", "overdue", "project", "jira_key", "jira_url",
    "retrospective", "retrospective_url", "lesson_page", "origin", "created_at", "created_by",
    "updated_at", "updated_by",
)  # fmt: skip


def _filters() -> dict[str, Any]:
    """The list's filters (project, status, overdue) as the request gives them."""
    try:
        status = choice_param("status", ("open", "all", *STATUSES), "open")
    except BadParameter as exc:
        abort(400, exc.description)
    overdue = text_param("overdue") in {"1", "true", "on"}
    return {"project": text_param("project"), "status": status, "overdue": overdue}


def _chosen(filters: dict[str, Any]) -> dict[str, Any]:
    """`filters` as ActionItems.list and .count take them."""
    status = filters["status"]
    return {
        "project": filters["project"] or None,
        "statuses": {"open": ("open", "in_progress"), "all": STATUSES}.get(status, (status,)),
        "overdue_only": filters["overdue"],
    }


def _filtered(limit: int) -> tuple[list[ActionItem], dict[str, Any]]:
    """The items the list's filters choose (the first `limit`), and the filters."""
    filters = _filters()
    return _items().list(**_chosen(filters), limit=limit), filters


@blueprint.get("/actions")
def index() -> Any:
    items = _items()
    filters = _filters()
    page = int_param("page", 1, 1, MAX_PAGE)
    total = items.count(**_chosen(filters))
    found = items.list(**_chosen(filters), limit=PAGE_ITEMS, offset=(page - 1) * PAGE_ITEMS)
    chosen = {k: v for k, v in request.args.items() if k in filters and v}
    first = (page - 1) * PAGE_ITEMS + 1
    return render_template(
        "actions.html",
        items=found,
        total=total,
        first=first,
        last=first + len(found) - 1,
        first_page=url_for("actions.index", **chosen),
        previous=url_for("actions.index", **chosen, page=page - 1) if page > 1 else None,
        following=(
            url_for("actions.index", **chosen, page=page + 1) if page * PAGE_ITEMS < total else None
        ),
        today=items.today(),
        filters=filters,
        statuses=STATUSES,
        is_editor=editor(lessons_web().access) is not None,
        export={f: url_for("actions.export", fmt=f, **chosen) for f in FORMATS},
        export_rows=EXPORT_ROWS,
    )


@blueprint.get("/actions/export.<fmt>")
def export(fmt: str) -> Response:
    """The action items the list's filters choose, as CSV or JSON (where each came from is its
    retrospective's title and link, never a path)."""
    check_format(fmt)
    web = lessons_web()
    store = web.services.store
    assert store is not None  # _guard refused the request otherwise
    found, filters = _filtered(limit=EXPORT_ROWS + 1)
    capped = len(found) > EXPORT_ROWS
    found = found[:EXPORT_ROWS]
    retros = store.retrospectives_by_id(
        retrospective_id(i.source_uri) for i in found if i.source_uri
    )
    today = store.actions.today()
    jira = (web.jira_url or "").rstrip("/")
    rows = []
    for i in found:
        retro = retros.get(retrospective_id(i.source_uri)) if i.source_uri else None
        rows.append(
            {
                **{k: getattr(i, k) for k in ACTION_COLUMNS if hasattr(i, k)},
                "overdue": i.overdue(today),
                "jira_url": f"{jira}/browse/{i.jira_key}" if jira and i.jira_key else None,
                "retrospective": retro.title if retro else None,
                "retrospective_url": retro.url if retro else None,
                "lesson_page": url_for("pages.lesson", lesson_id=i.lesson_id, _external=True)
                if i.lesson_id
                else None,
            }
        )
    meta = {"filters": filters, "count": len(rows), "capped": capped}
    return download(fmt, "action-items", ACTION_COLUMNS, rows, meta)


@blueprint.get("/actions/<item_id>")
def item(item_id: str) -> Any:
    web = lessons_web()
    found = _item(item_id)
    return render_template(
        "action.html",
        item=found,
        retro_id=retrospective_id(found.source_uri) if found.source_uri else None,
        today=_items().today(),
        statuses=STATUSES,
        is_editor=editor(web.access) is not None,
        browse_base=web.services.options.browse_base,
        report_only=web.report_only,
        can_push=web.jira is not None,
        message=text_param("message"),
        error=text_param("error"),
    )


@blueprint.post("/actions/new")
def add() -> Any:
    form = g.form
    try:
        created = _items().add(
            g.editor,
            text=form.get("text", ""),
            owner=form.get("owner") or None,
            due=form.get("due") or None,
            project=form.get("project") or None,
            lesson_id=form.get("lesson_id") or None,
        )
    except LessonNotFoundError:
        abort(400, f"no lesson has id {form.get('lesson_id', '')[:80]!r}")
    except CurationError as exc:
        abort(400, str(exc))
    return _back(created.id, message="added")


@blueprint.post("/actions/<item_id>/status")
def status(item_id: str) -> Any:
    _item(item_id)
    try:
        _items().set_status(item_id, g.form.get("status", ""), g.editor)
    except CurationError as exc:
        abort(400, str(exc))
    return _back(item_id)


@blueprint.post("/actions/<item_id>/jira")
def push(item_id: str) -> Any:
    """Create in Jira: at most one issue per item however often it is pressed."""
    _item(item_id)
    pusher = lessons_web().action_pusher()
    if pusher is None:
        abort(503, "no Jira port is configured for this app")
    try:
        outcome = pusher.push(item_id)
    except ActionPushError as exc:
        abort(400, str(exc))
    except JiraPushBusy as exc:
        abort(409, str(exc))
    except JiraApiError as exc:
        return _back(item_id, error=f"Jira refused: {exc}")
    return _back(item_id, message=outcome.action)


def overdue_action_items(project: str | None = None) -> list[ActionItem]:
    """The open items past their due date, for the dashboard's panel (most overdue first)."""
    store = lessons_web().services.store
    if store is None:
        return []
    return store.actions.open_action_items(project, overdue_only=True, limit=PANEL_ROWS)
