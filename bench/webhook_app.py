"""The app the webhook benchmarks run under gunicorn: the real one plus a no-op handler.

The no-op handler makes `jira:issue_updated` a handled event, so each delivery takes the full
path (verify, parse, commit, enqueue) rather than being recorded as ignored.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from flask import Flask

from hindsight.config import load_settings
from hindsight.wiring import Config, build_runtime
from hindsight.wsgi import create_app as create_hindsight_app
from kb.postgres import PostgresURL
from plugin.dispatch import HandlerResult
from plugin.lessons.services import LessonsOptions, build_services


def create_app() -> Flask:
    settings = load_settings()
    lessons = None
    if isinstance(settings.db, PostgresURL):
        # The lessons have no PostgreSQL store yet (issue 14) and take no part in the edge's
        # path: a throwaway file of their own, so the delivery log can run on PostgreSQL.
        folder = Path(tempfile.mkdtemp(prefix="hindsight-bench-lessons-"))
        lessons = build_services(
            LessonsOptions(folder / "lessons.db", base_url="http://bench", feedback_secrets=("b",))
        )
    runtime = build_runtime(Config(settings), installers=[], lessons=lessons)
    runtime.dispatcher.register(
        "jira:issue_updated", "bench-noop", lambda event, key: HandlerResult("no-op")
    )
    return create_hindsight_app(runtime.config, runtime)
