"""Shared fixtures: `settings`, `runtime`, `app`, `client`, `runner` (small on purpose).

The app processes each delivery inline (huey's immediate mode) so a test can post a delivery
and assert on its outcome at once. Tests that need different wiring build their own.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import settings as settings_profiles

from hindsight.config import Settings, load_settings
from hindsight.wiring import Config, Runtime, build_runtime
from hindsight.wsgi import create_app
from webhooks.queue import build_delivery_queue, build_huey

WEBHOOK_SECRET = "test-webhook-secret"

# --- property-based tests (tests/webhooks/test_properties.py, test_openapi_fuzz.py) ---
# "hindsight" (default): the same examples every run, no example database written, so the suite
# is reproducible and stays within its time budget; each test sets its own max_examples.
# HYPOTHESIS_PROFILE=thorough: random and ten times as many, for hunting locally.
HYPOTHESIS_PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "hindsight")
settings_profiles.register_profile(
    "hindsight", derandomize=True, database=None, deadline=None, print_blob=True
)
settings_profiles.register_profile("thorough", derandomize=False, deadline=None, print_blob=True)
settings_profiles.load_profile(HYPOTHESIS_PROFILE)


def examples(count: int) -> int:
    """A property test's `max_examples`: `count` by default, ten times that when thorough."""
    return count * 10 if HYPOTHESIS_PROFILE == "thorough" else count


# --- fake Jira (H2): fake_jira, fake_jira_server, jira_adapter... (testkit/fakejira/README.md)
pytest_plugins = ["testkit.fakejira.fixtures", "testkit.postgres", "testkit.redis"]
# --- end fake Jira ---


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(
        environ={},
        overrides={"db": tmp_path / "hindsight.db", "webhook_secret": [WEBHOOK_SECRET]},
    )


@pytest.fixture
def runtime(settings: Settings) -> Runtime:
    """No handlers installed: tests register what they need on `runtime.dispatcher`."""
    return build_runtime(Config(settings), installers=[])


@pytest.fixture
def app(runtime: Runtime) -> Flask:
    queue = build_delivery_queue(runtime, huey=build_huey("memory://", immediate=True))
    return create_app(runtime=runtime, queue=queue, test_config={"TESTING": True})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()
