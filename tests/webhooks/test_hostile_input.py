"""Issue 10's findings at the HTTP edge, one regression test each: bad input is a 4xx, never a 5xx.

1. unauthenticated 500s (a non-ASCII signature or feedback token),
2. signed but malformed deliveries (Jira retries a 5xx, so these must be 400),
3. page and API parameters that crashed a handler,
5. chunked bodies over the limit (read whole or refused with 413, never cut silently).
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from hindsight.wiring import Runtime
from plugin.dispatch import Dispatcher, HandlerResult
from plugin.events import JiraEvent
from plugin.jira.signature import sign
from testkit.audit import FakeAudit
from tests.conftest import WEBHOOK_SECRET
from tests.webhooks.helpers import issue_updated, make_web_app, post_chunked, post_delivery
from webhooks.pipeline import DeliveryProcessor, RetryPolicy
from webhooks.store import DEAD
from webhooks.web.audit import OutcomeCount


@pytest.fixture
def web(tmp_path):
    counts = [OutcomeCount(date.today().isoformat(), "PAY", "normal-change", "fail", 1)]
    return make_web_app(tmp_path, audit=FakeAudit(counts=counts))


# -- 1. unauthenticated


def test_non_ascii_signature_is_401_not_500(client: FlaskClient, runtime: Runtime) -> None:
    response = post_delivery(
        client, issue_updated(), secret=None, headers={"X-Hub-Signature": "sha256=é"}
    )

    assert response.status_code == 401
    assert "malformed X-Hub-Signature" in response.json["reason"]
    assert runtime.deliveries.list() == []


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Hub-Signature": "sha256=" + "é" * 64},
        {"X-Hub-Signature": "é=abc"},
        {"X-Hindsight-Token": "tökén"},
        {"Authorization": "Basic é"},
    ],
    ids=["hex", "algorithm", "automation-token", "basic"],
)
def test_non_ascii_credentials_are_401_not_500(
    client: FlaskClient, headers: dict[str, str]
) -> None:
    response = post_delivery(client, issue_updated(), secret=None, headers=headers)

    assert response.status_code == 401
    assert response.json["status"] == "rejected"


def test_odd_retry_and_delivery_id_headers_are_ignored_not_500(
    client: FlaskClient, runtime: Runtime
) -> None:
    headers = {"X-Atlassian-Webhook-Retry": "²", "X-Atlassian-Webhook-Identifier": "é\x7f"}
    response = post_delivery(client, issue_updated(), headers=headers)

    assert response.status_code == 202
    stored = runtime.deliveries.get(response.json["key"])
    assert stored is not None and stored.jira_retry is None
    assert response.json["key"].startswith("sha256:")  # the unprintable id was not used


def test_non_ascii_feedback_token_is_400_not_500(web) -> None:
    app, _ = web
    client = app.test_client()

    page = client.get("/lessons/feedback?t=é.x")
    api = client.post("/api/lessons/feedback", json={"token": "é.x"})

    assert page.status_code == 400 and "damaged" in page.get_data(as_text=True)
    assert api.status_code == 400 and "damaged" in api.json["error"]


# -- 2. signed but malformed deliveries


def _with(path: str, value: object) -> dict:
    """A real-shaped delivery with the value at `path` (dot-separated) replaced."""
    payload = issue_updated()
    *parents, last = path.split(".")
    node = payload
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return payload


MALFORMED = {
    "nan-timestamp": (b'{"webhookEvent": "jira:issue_updated", "timestamp": NaN}', "NaN"),
    "infinite-timestamp": (b'{"webhookEvent": "jira:issue_updated", "timestamp": 1e999}', "large"),
    "surrogate-in-key": (
        json.dumps(_with("issue.key", "\ud800")).encode(),
        "surrogate",
    ),
    "fields-as-list": (json.dumps(_with("issue.fields", ["a", "b"])).encode(), "'issue'"),
    "author-as-string": (
        json.dumps(
            {"webhookEvent": "comment_created", "comment": {"id": "1", "author": "bob"}}
        ).encode(),
        "'comment'",
    ),
    "changelog-items-as-object": (
        json.dumps(_with("changelog.items", {"field": "status"})).encode(),
        "'changelog'",
    ),
    "user-as-list": (json.dumps(_with("issue.fields.assignee", [1])).encode(), "'issue'"),
    "100000-nested-arrays": (
        b'{"webhookEvent": "x", "a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        "nests deeper",
    ),
    "65-nested-objects": (
        b'{"webhookEvent": "x", "a": ' + b'{"a": ' * 64 + b"1" + b"}" * 64 + b"}",
        "nests deeper",
    ),
    "bom": (b"\xef\xbb\xbf{}", "not JSON"),
    "encoded-surrogate": (b'{"webhookEvent": "\xed\xa0\x80"}', "not UTF-8"),
}


@pytest.mark.parametrize("body, reason", MALFORMED.values(), ids=MALFORMED.keys())
def test_signed_malformed_delivery_is_400_not_500(
    client: FlaskClient, runtime: Runtime, body: bytes, reason: str
) -> None:
    response = post_delivery(client, None, raw=body)

    assert response.status_code == 400
    assert reason in response.json["reason"]
    assert runtime.deliveries.list() == []  # Jira does not retry a 400, and nothing is stored


def test_timestamp_as_text_or_out_of_range_is_kept_only_when_a_real_time() -> None:
    def stamp(value: object) -> int | None:
        return JiraEvent.from_payload({"webhookEvent": "x", "timestamp": value}).timestamp

    assert stamp("1700000000000") == 1_700_000_000_000  # a logging proxy's text
    assert stamp(1.7e12) == 1_700_000_000_000
    assert [stamp(v) for v in (-1, 10**30, "9" * 5000, "１２３", True, [1], 1e300)] == [None] * 7


def test_stored_delivery_of_odd_shape_ends_dead_at_once_not_retrying(runtime: Runtime) -> None:
    """A delivery stored before the edge refused such shapes is a recorded failure, once."""
    payload = _with("issue.fields", ["not", "an", "object"])
    runtime.deliveries.record(
        key="old-1",
        event="jira:issue_updated",
        subject="OPS-7",
        issue_key="OPS-7",
        actor=None,
        body=json.dumps(payload).encode(),
        auth="signature",
    )
    calls: list[str] = []
    dispatcher = Dispatcher()
    dispatcher.register(
        "jira:issue_updated", "h", lambda e, k: calls.append(k) or HandlerResult("no-op", "")
    )
    worker = DeliveryProcessor(
        runtime.deliveries, dispatcher, owner="t:1:a", retry=RetryPolicy(max_attempts=8)
    )

    assert worker.process("old-1") is None  # no retry scheduled

    row = runtime.deliveries.get("old-1")
    assert row is not None and row.status == DEAD and row.attempts == 1
    assert "not shaped like Jira's" in (row.last_error or "")
    assert calls == []


# -- 3. pages and API parameters

BAD_PAGE_PARAMETERS = {
    "dashboard-days-abc": ("/dashboard?days=abc", "days must be a whole number"),
    "dashboard-days-0": ("/dashboard?days=0", "between 1 and 366"),
    "dashboard-days-huge": ("/dashboard?days=" + "9" * 400, "whole number"),
    "dashboard-days-superscript": ("/dashboard?days=²", "whole number"),
    "audit-since-garbage": ("/audit?since=garbage", "since must be a date"),
    "audit-since-ancient": ("/audit?since=99999999999d", "since must be a date"),
    "audit-since-superscript": ("/audit?since=²d", "since must be a date"),
    "lessons-since": ("/lessons?q=rollback&since=garbage", "YYYY-MM-DD"),
    "lessons-mode": ("/lessons?q=rollback&mode=psychic", "mode must be one of"),
    "page-not-a-number": ("/lessons?q=rollback&page=two", "page"),
    "sort-unknown": ("/lessons?q=rollback&sort=loudest", "sort"),
    "retrospectives-page-zero": ("/retrospectives?page=0", "page"),
    "audit-export-outcome": ("/audit/export.csv?outcome=maybe", "outcome"),
}


@pytest.mark.parametrize("url, reason", BAD_PAGE_PARAMETERS.values(), ids=BAD_PAGE_PARAMETERS)
def test_bad_page_parameter_is_400_not_500(web, url: str, reason: str) -> None:
    app, _ = web
    response = app.test_client().get(url)

    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert reason in response.get_data(as_text=True)


def test_dashboard_days_abc_is_400_not_500(web) -> None:
    app, _ = web
    assert app.test_client().get("/dashboard?days=abc").status_code == 400
    assert app.test_client().get("/dashboard?days=7").status_code == 200


def test_audit_since_garbage_is_400_not_500(web) -> None:
    app, _ = web
    assert app.test_client().get("/audit?since=garbage").status_code == 400
    assert app.test_client().get("/audit?since=7d").status_code == 200


BAD_API_PARAMETERS = {
    "limit-abc": ("q=x&limit=abc", "whole number"),
    "limit-superscript": ("q=x&limit=²", "whole number"),
    "limit-huge": ("q=x&limit=" + "9" * 5000, "whole number"),
    "since-garbage": ("q=x&since=garbage", "YYYY-MM-DD"),
    "since-out-of-range": ("q=x&since=99999-01-01", "YYYY-MM-DD"),
    "mode": ("q=x&mode=psychic", "mode must be one of"),
    "q-next-line-only": ("q=%C2%85", "give the search text"),  # U+0085: blank to Python only
    "q-bom-only": ("q=%EF%BB%BF", "give the search text"),  # U+FEFF: blank to ECMAScript only
}


@pytest.mark.parametrize("query, reason", BAD_API_PARAMETERS.values(), ids=BAD_API_PARAMETERS)
def test_bad_api_parameter_is_400_json_not_500(web, query: str, reason: str) -> None:
    app, _ = web
    response = app.test_client().get(f"/api/lessons/search?{query}")

    assert response.status_code == 400
    assert reason in response.json["error"] and response.json["status"] == 400


def test_openapi_not_only_spaces_pattern_means_what_the_app_trims() -> None:
    """schemathesis judges `q` by the description's pattern: it must refuse exactly the texts
    the app trims to nothing, under Python's regex flavour and ECMAScript's alike."""
    import re

    import yaml

    from webhooks.web.params import BLANKS

    spec = yaml.safe_load((Path(__file__).resolve().parents[2] / "docs/openapi.yaml").read_text())
    (q,) = [
        p for p in spec["paths"]["/api/lessons/search"]["get"]["parameters"] if p["name"] == "q"
    ]
    pattern = re.compile(q["schema"]["pattern"])
    assert [hex(ord(c)) for c in BLANKS if pattern.search(c * 3)] == []
    assert all(pattern.search(text) for text in ("x", " 回滚 ", "\u200bx"))


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"NaN", b"[" * 5000 + b"]" * 5000, b'{"token": 7}', b"[]"],
    ids=["empty", "text", "nan", "deep", "token-not-text", "array"],
)
def test_bad_feedback_body_is_400_json_not_500(web, body: bytes) -> None:
    app, _ = web
    response = app.test_client().post(
        "/api/lessons/feedback", data=body, content_type="application/json"
    )

    assert response.status_code == 400
    assert "token" in response.json["error"]


# -- 5. over-limit bodies without a Content-Length


def test_chunked_delivery_over_the_limit_is_413_not_401(
    client: FlaskClient, runtime: Runtime
) -> None:
    payload = issue_updated()
    payload["padding"] = "x" * 2 * runtime.edge.max_body_bytes
    body = json.dumps(payload).encode()
    headers = {"X-Hub-Signature": sign(body, WEBHOOK_SECRET)}

    response = post_chunked(client, "/webhooks/jira", body, headers)

    assert response.status_code == 413
    assert f"the limit is {runtime.edge.max_body_bytes} bytes" in response.json["reason"]
    assert runtime.deliveries.list() == []


def test_chunked_delivery_at_the_limit_is_read_whole(client: FlaskClient, runtime: Runtime) -> None:
    payload = issue_updated()
    payload["padding"] = ""
    room = runtime.edge.max_body_bytes - len(json.dumps(payload).encode())
    payload["padding"] = "x" * room
    body = json.dumps(payload).encode()
    assert len(body) == runtime.edge.max_body_bytes

    response = post_chunked(
        client, "/webhooks/jira", body, {"X-Hub-Signature": sign(body, WEBHOOK_SECRET)}
    )

    assert response.status_code == 202  # the signature matched: every byte was read


def test_chunked_policy_over_the_limit_is_413_not_validated_truncated(
    client: FlaskClient, runtime: Runtime
) -> None:
    # valid YAML in its first megabyte, followed by a broken line
    text = "version: 1\n" + "# padding\n" * (runtime.edge.max_body_bytes // 10) + "rules: [\n"

    response = post_chunked(client, "/api/policy/validate", text.encode())

    assert response.status_code == 413
    assert response.json["valid"] is False
    assert "limit" in response.json["errors"][0]["message"]


def test_chunked_feedback_form_over_its_limit_is_413(web) -> None:
    app, _ = web
    response = post_chunked(app.test_client(), "/lessons/feedback", b"t=" + b"x" * 100_000)

    assert response.status_code == 413
