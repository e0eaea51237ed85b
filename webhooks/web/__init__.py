"""The project managers' pages and the lessons JSON API, over the lessons services.

`register_lessons_web(app, web)` adds both blueprints over their context (services, access rules,
audit source), built once when the app is created.
"""

from __future__ import annotations

from flask import Flask
from werkzeug.exceptions import HTTPException

from webhooks.web.context import LessonsWeb, WebOptions, lessons_web


def register_lessons_web(app: Flask, web: LessonsWeb) -> None:
    """Add the pages and the JSON API to `app`, with `web` as their context."""
    from webhooks import api_lessons
    from webhooks.web import (
        actions,
        curation,
        forms,
        oversight,  # noqa: F401  (its routes join pages.blueprint)
        pages,
        params,
    )

    app.extensions[LessonsWeb.EXTENSION] = web
    for area in (curation, pages, actions, api_lessons):
        # every page's and API route's address, before any store sees it (the webhook
        # endpoint answers Jira in JSON and stores no part of its address)
        app.before_request_funcs.setdefault(area.blueprint.name, []).append(params.refuse_nul)
    app.register_blueprint(curation.blueprint)  # its /lessons/<id>/edit before pages' /lessons/<id>
    app.register_blueprint(pages.blueprint)
    forms.install_forms(app)
    app.register_blueprint(actions.blueprint)
    app.add_template_global(curation.lesson_curation, "lesson_curation")
    app.add_template_filter(curation.revision_value, "revision_value")
    app.add_template_global(curation.lesson_action_items, "lesson_action_items")
    app.add_template_global(actions.overdue_action_items, "overdue_action_items")
    app.register_blueprint(api_lessons.blueprint)
    app.register_error_handler(HTTPException, api_lessons.json_errors_for_api_paths)


__all__ = ["LessonsWeb", "WebOptions", "lessons_web", "register_lessons_web"]
