"""Curating lessons on the web: add, edit, archive, restore and merge (editors only).

Plain HTML forms (no script runs here): each GET shows a form, each POST checks that the
request is this site's own form (`forms.check_form`) and that an editor sends it
(`access.editor`), makes the change through the knowledge base's curation methods, and
redirects to the lesson, whose page then shows the change in its history. A change that
cannot be made is the form again with the reason: 400, 404, or 409 for a stale edit.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, g, redirect, render_template, request, url_for

from kb.actions import ActionItem
from kb.curation import CurationError, StaleEditError
from kb.errors import LessonNotFoundError
from kb.records import KINDS, Lesson
from kb.store import LessonStore
from webhooks.web.access import check_access, editor, editor_refusal, secure_headers
from webhooks.web.context import lessons_web
from webhooks.web.forms import check_form

blueprint = Blueprint("curation", __name__, template_folder="../templates")
MERGE_CANDIDATES = 5


@blueprint.before_request
def _guard() -> Response | None:
    web = lessons_web()
    refused = check_access(web.access, api=False)
    if refused is not None:
        return refused
    if request.method not in {"GET", "HEAD", "POST"}:
        abort(405)
    g.form = check_form(web.access) if request.method == "POST" else {}
    g.editor = editor(web.access)
    if g.editor is None:
        abort(403, editor_refusal(web.access))
    if web.services.store is None:
        abort(503, "no knowledge base is configured")
    return None


@blueprint.after_request
def _headers(response: Response) -> Response:
    return secure_headers(response)


def _store() -> LessonStore:
    store = lessons_web().services.store
    assert store is not None  # _guard refused the request otherwise
    return store


def _lesson(lesson_id: str) -> Lesson:
    try:
        return _store().get(lesson_id)
    except LessonNotFoundError:
        abort(404, f"no lesson has id {lesson_id!r}")


def _done(lesson_id: str) -> Response:
    return redirect(url_for("pages.lesson", lesson_id=lesson_id), code=303)


def _kinds(store: LessonStore) -> list[str]:
    return sorted(set(KINDS) | set(store.stats().by_kind))


@blueprint.route("/lessons/new", methods=["GET", "POST"])
def add() -> Any:
    store = _store()
    form = g.form or {"source": request.args.get("source", ""), "kind": "lesson"}
    error = None
    if request.method == "POST":
        try:
            lesson = store.curation.add(
                g.editor,
                text=form.get("text", ""),
                title=form.get("title", ""),
                kind=form.get("kind", "lesson"),
                project=form.get("project") or None,
                tags=form.get("tags", ""),
                source_uri=form.get("source") or None,
                new_retrospective=form.get("new_retrospective") or None,
            )
        except CurationError as exc:
            error = str(exc)
        else:
            return _done(lesson.id)
    page = render_template(
        "lesson_add.html",
        form=form,
        error=error,
        kinds=_kinds(store),
        retrospectives=store.curation.retrospectives(),
    )
    return page, 400 if error else 200


@blueprint.route("/lessons/<path:lesson_id>/edit", methods=["GET", "POST"])
def edit(lesson_id: str) -> Any:
    store = _store()
    lesson = _lesson(lesson_id)
    state = store.curation.state(lesson_id)
    form: dict[str, Any] = g.form or {
        "title": lesson.title,
        "text": lesson.text,
        "kind": lesson.kind,
        "project": lesson.project or "",
        "tags": ", ".join(lesson.tags),
        "revision": str(state.revision),
    }
    error, status = None, 200
    if request.method == "POST":
        revision = form.get("revision", "")
        try:
            store.curation.edit(
                lesson_id,
                g.editor,
                {key: form.get(key, "") for key in ("title", "text", "kind", "project", "tags")},
                expected_revision=int(revision) if revision.isdigit() else None,
                note=form.get("note", ""),
            )
        except StaleEditError as exc:
            error, status = str(exc), 409
        except CurationError as exc:
            error, status = str(exc), 400
        else:
            return _done(lesson_id)
    page = render_template(
        "lesson_edit.html", lesson=lesson, state=state, form=form, error=error, kinds=_kinds(store)
    )
    return page, status


@blueprint.post("/lessons/<path:lesson_id>/archive")
def archive(lesson_id: str) -> Any:
    return _set_status(lesson_id, archive=True)


@blueprint.post("/lessons/<path:lesson_id>/restore")
def restore(lesson_id: str) -> Any:
    return _set_status(lesson_id, archive=False)


def _set_status(lesson_id: str, *, archive: bool) -> Any:
    store = _store()
    _lesson(lesson_id)
    change = store.curation.archive if archive else store.curation.restore
    try:
        change(lesson_id, g.editor, note=g.form.get("note", ""))
    except CurationError as exc:
        abort(400, str(exc))
    return _done(lesson_id)


@blueprint.route("/lessons/<path:lesson_id>/merge", methods=["GET", "POST"])
def merge(lesson_id: str) -> Any:
    web = lessons_web()
    store = _store()
    lesson = _lesson(lesson_id)
    form = g.form or {"into": request.args.get("into", "")}
    error = None
    if request.method == "POST":
        into = form.get("into", "").strip()
        try:
            store.curation.merge(lesson_id, into, g.editor, note=form.get("note", ""))
        except LessonNotFoundError:
            error = f"no lesson has id {into!r}; pick one of the candidates or paste an id"
        except CurationError as exc:
            error = str(exc)
        else:
            web.services.journal.move_lesson(lesson_id, into)
            return _done(into)
    candidates = [
        hit
        for hit in store.search(lesson.text[:2000], limit=MERGE_CANDIDATES + 1)
        if hit.id != lesson_id
    ][:MERGE_CANDIDATES]
    page = render_template(
        "lesson_merge.html", lesson=lesson, form=form, error=error, candidates=candidates
    )
    return page, 400 if error else 200


def lesson_curation(lesson_id: str) -> dict[str, Any]:
    """What the lesson page shows about curation: state, history, merges, and the editor."""
    web = lessons_web()
    store = web.services.store
    if store is None:
        return {"state": None, "history": [], "merged_from": [], "editor": None}
    state = store.curation.state(lesson_id)
    return {
        "state": state,
        "history": store.curation.history(lesson_id),
        "merged_from": store.curation.merged_from(lesson_id),
        "editor": editor(web.access),
    }


def lesson_action_items(lesson_id: str) -> list[ActionItem]:
    """The action items that came from (or were added to) this lesson."""
    store = lessons_web().services.store
    return store.actions.for_lesson(lesson_id) if store is not None else []


def revision_value(value: Any) -> str:
    """A field's value as the history shows it: lists joined, nothing as a dash."""
    if value is None or value == "":
        return "—"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "—"
    return str(value)
