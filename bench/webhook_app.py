"""The app the webhook benchmarks run under gunicorn: the real one plus a no-op handler.

The no-op handler makes `jira:issue_updated` a handled event, so each delivery takes the full
path (verify, parse, commit, enqueue) rather than being recorded as ignored.
"""

from __future__ import annotations

from flask import Flask

from hindsight.config import load_settings
from hindsight.wiring import Config, build_runtime
from hindsight.wsgi import create_app as create_hindsight_app
from plugin.dispatch import HandlerResult


def create_app() -> Flask:
    settings = load_settings()
    runtime = build_runtime(Config(settings), installers=[])
    runtime.dispatcher.register(
        "jira:issue_updated", "bench-noop", lambda event, key: HandlerResult("no-op")
    )
    return create_hindsight_app(runtime.config, runtime)
