"""The WSGI entry: the configuration, the runtime, then the Flask app.

    gunicorn 'hindsight.wsgi:create_app()'

Configuration is read when the app is created, never at import time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

import webhooks
from hindsight.logs import configure_logging
from hindsight.wiring import Config, ConfigError, Runtime, build_runtime, load_config
from webhooks.queue import DeliveryQueue


def create_app(
    config: Config | None = None,
    runtime: Runtime | None = None,
    test_config: Mapping[str, Any] | None = None,
    *,
    queue: DeliveryQueue | None = None,
) -> Flask:
    """The whole web app. Refuses to start without a webhook secret (unless allow_unsigned)."""
    config = config or (runtime.config if runtime else load_config())
    problem = config.webhook_auth_problem
    if problem:
        raise ConfigError(problem)
    if not (test_config or {}).get("TESTING"):
        log = config.log
        configure_logging(log.format, log.level, secrets=log.secrets)
    runtime = runtime or build_runtime(config)
    return webhooks.create_app(runtime, queue=queue, test_config=test_config)
