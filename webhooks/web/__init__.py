"""The project managers' pages and the lessons JSON API, over the lessons services.

`register_lessons_web(app)` adds both blueprints; the web context (services, access settings,
audit source) is built from the app's runtime on first use, or passed in by tests.
"""

from __future__ import annotations

from flask import Flask
from werkzeug.exceptions import HTTPException

from webhooks.web.context import LessonsWeb, lessons_web


def register_lessons_web(app: Flask, web: LessonsWeb | None = None) -> None:
    """Add the pages and the JSON API to `app` (with `web` as their context, if given)."""
    from webhooks import api_lessons
    from webhooks.web import curation, forms, pages

    if web is not None:
        app.extensions[LessonsWeb.EXTENSION] = web
    app.register_blueprint(curation.blueprint)  # its /lessons/<id>/edit before pages' /lessons/<id>
    app.register_blueprint(pages.blueprint)
    forms.install_forms(app)
    app.add_template_global(curation.lesson_curation, "lesson_curation")
    app.register_blueprint(api_lessons.blueprint)
    app.register_error_handler(HTTPException, api_lessons.json_errors_for_api_paths)


__all__ = ["LessonsWeb", "lessons_web", "register_lessons_web"]
