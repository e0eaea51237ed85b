"""Jira Data Center webhook authentication end to end: HTTP Basic (DC 10+) and ?token= (DC 9-).

Wrong values are 401 with a short reason and store nothing; the delivery log records which
method authenticated; no value reaches a log line.
"""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from hindsight.config import load_settings
from hindsight.wiring import Config, Runtime, build_runtime
from hindsight.wsgi import create_app
from plugin.dispatch import HandlerResult
from tests.webhooks.helpers import issue_updated, post_delivery
from webhooks.queue import build_delivery_queue, build_huey

PASSWORD = "b4sic-pa55word-for-tests"
OLD_PASSWORD = "old-b4sic-pa55word"
URL_TOKEN = "url-t0ken-for-tests"
OLD_URL_TOKEN = "old-url-t0ken"


@pytest.fixture
def runtime(tmp_path: Path) -> Runtime:
    settings = load_settings(
        environ={
            "HINDSIGHT_WEBHOOK_BASIC_AUTH": f"jira:{PASSWORD},jira:{OLD_PASSWORD}",
            "HINDSIGHT_WEBHOOK_URL_TOKEN": f"{URL_TOKEN},{OLD_URL_TOKEN}",
        },
        overrides={"db": tmp_path / "hindsight.db"},
    )
    runtime = build_runtime(Config(settings), installers=[])
    runtime.dispatcher.register("jira:issue_updated", "noop", lambda e, k: HandlerResult("no-op"))
    return runtime


@pytest.fixture
def client(runtime: Runtime) -> FlaskClient:
    queue = build_delivery_queue(runtime, huey=build_huey("memory://", immediate=True))
    app = create_app(runtime=runtime, queue=queue, test_config={"TESTING": True})
    return app.test_client()


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def _url_token(client: FlaskClient, token: str, key: str) -> TestResponse:
    body = json.dumps(issue_updated()).encode()
    return client.post(
        f"/webhooks/jira?token={token}",
        data=body,
        headers={"Content-Type": "application/json", "X-Atlassian-Webhook-Identifier": key},
    )


@pytest.mark.parametrize("password", [PASSWORD, OLD_PASSWORD], ids=["current", "rotated-out"])
def test_basic_auth_delivery_is_accepted_and_logged_as_basic(
    client: FlaskClient, runtime: Runtime, password: str
) -> None:
    response = post_delivery(
        client, issue_updated(), secret=None, delivery_id="b-1", headers=_basic("jira", password)
    )

    assert response.status_code == 202
    stored = runtime.deliveries.get("b-1")
    assert stored is not None and stored.auth == "basic" and stored.status == "done"


def test_wrong_basic_password_is_401_with_a_short_reason(
    client: FlaskClient, runtime: Runtime
) -> None:
    response = post_delivery(
        client, issue_updated(), secret=None, delivery_id="b-2", headers=_basic("jira", "guess")
    )

    assert response.status_code == 401
    assert response.json["reason"] == "Basic user or password does not match"
    assert runtime.deliveries.get("b-2") is None


@pytest.mark.parametrize("token", [URL_TOKEN, OLD_URL_TOKEN], ids=["current", "rotated-out"])
def test_url_token_delivery_is_accepted_and_logged_as_url_token(
    client: FlaskClient, runtime: Runtime, token: str
) -> None:
    response = _url_token(client, token, "u-1")

    assert response.status_code == 202
    stored = runtime.deliveries.get("u-1")
    assert stored is not None and stored.auth == "url-token"


def test_wrong_url_token_is_401_with_a_short_reason(client: FlaskClient, runtime: Runtime) -> None:
    response = _url_token(client, "guess", "u-2")

    assert response.status_code == 401
    assert response.json["reason"] == "?token= in the webhook URL does not match"
    assert runtime.deliveries.get("u-2") is None


def test_no_credential_value_reaches_a_log_line(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        post_delivery(client, issue_updated(), secret=None, headers=_basic("jira", PASSWORD))
        post_delivery(client, issue_updated(), secret=None, headers=_basic("jira", "guess-pw"))
        _url_token(client, URL_TOKEN, "u-3")
        _url_token(client, "guess-token", "u-4")

    logged = "\n".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records)
    assert "delivery rejected" in logged  # the wrong ones were logged, without their values
    for value in (PASSWORD, URL_TOKEN, "guess-pw", "guess-token"):
        assert value not in logged
