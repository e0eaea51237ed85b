"""The WSGI entry: settings from the environment, the runtime, then the Flask app.

    gunicorn 'hindsight.wsgi:create_app()'

Configuration is read when the app is created, never at import time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

import webhooks
from hindsight.config import ConfigError, Settings, load_settings
from hindsight.logs import configure_logging
from hindsight.wiring import Runtime, build_runtime
from webhooks.queue import DeliveryQueue


def create_app(
    settings: Settings | None = None,
    runtime: Runtime | None = None,
    test_config: Mapping[str, Any] | None = None,
    *,
    queue: DeliveryQueue | None = None,
) -> Flask:
    """The whole web app. Refuses to start without a webhook secret (unless allow_unsigned)."""
    settings = settings or (runtime.settings if runtime else load_settings())
    problem = settings.webhook_auth_problem()
    if problem:
        raise ConfigError(problem)
    if not (test_config or {}).get("TESTING"):
        configure_logging(settings.log_format, settings.log_level, secrets=settings.secret_values())
    runtime = runtime or build_runtime(settings)
    return webhooks.create_app(runtime, queue=queue, test_config=test_config)
