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


# -- issue 14: what PostgreSQL refuses (NUL, U+0000), on both engines

EDITOR_TOKEN = "ed1tor"


@pytest.fixture
def service(store_location: str, tmp_path: Path) -> tuple[FlaskClient, Runtime]:
    """The whole service (deliveries, audit, lessons, pages, API) where HINDSIGHT_DB says."""
    from hindsight.config import load_settings
    from hindsight.wiring import Config, build_runtime, install_lessons
    from hindsight.wsgi import create_app
    from plugin.lessons.services import build_services
    from testkit.kb import HashingEmbedder
    from tests.webhooks.helpers import RETRO_WITH_SCRIPT
    from webhooks.queue import build_delivery_queue, build_huey

    settings = load_settings(
        environ={},
        overrides={"db": store_location, "queue": f"sqlite:///{tmp_path / 'q.db'}",
                   "webhook_secret": [WEBHOOK_SECRET], "editor_token": [EDITOR_TOKEN]},
    )  # fmt: skip
    config = Config(settings)
    lessons = build_services(config.lessons, embedder=HashingEmbedder())
    assert lessons.store is not None
    lessons.store.ingest_source("retros/pay-4.2.md", RETRO_WITH_SCRIPT)
    runtime = build_runtime(config, installers=[install_lessons], lessons=lessons)
    queue = build_delivery_queue(runtime, huey=build_huey("memory://", immediate=True))
    app = create_app(runtime=runtime, queue=queue, test_config={"TESTING": True})
    return app.test_client(), runtime


NUL_ADDRESSES = [
    "/api/lessons/search?q=roll%00back",
    "/api/lessons/search?q=rollback&project=%00",
    "/api/lessons/%00",
    "/api/lessons/suggestions/OPS-1%00",
    "/api/lessons/stats?project=%00",
    "/lessons?q=a%00b",
    "/lessons?tag=%00",
    "/lessons/%00",
    "/lessons/%00/edit",
    "/retrospectives/%00",
    "/projects/PAY%00",
    "/actions/%00",
    "/actions?project=%00",
    "/actions/export.csv?owner=%00",
    "/audit?rule=%00",
    "/audit/export.csv?issue=%00",
    "/dashboard?project=%00",
    "/lessons/feedback?t=a%00.b",
    "/lessons?to%00ken=x",
]


@pytest.mark.parametrize("address", NUL_ADDRESSES)
def test_nul_in_an_address_is_400_naming_where_not_500(service, address: str) -> None:
    """Every store lookup a page or the API makes: PostgreSQL refused the NUL with a 500."""
    client, _ = service
    response = client.get(address, headers={"Authorization": f"Bearer {EDITOR_TOKEN}"})

    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "holds a NUL character (%00)" in text
    assert ("path" in text) if "?" not in address else ("parameter" in text)


def _post_form(client: FlaskClient, path: str, page: str, data: dict[str, str]):
    import re

    headers = {"Authorization": f"Bearer {EDITOR_TOKEN}"}
    form = client.get(page, headers=headers).get_data(as_text=True)
    token = re.search(r'name="csrf" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    return client.post(
        path, data={**data, "csrf": token}, headers={**headers, "Sec-Fetch-Site": "same-origin"}
    )


def test_nul_in_a_curation_or_action_form_is_400_naming_the_field(service) -> None:
    client, runtime = service
    store = runtime.lessons.store
    lesson = store.search("rollback", limit=1, mode="keyword")[0].lesson
    source = store.curation.retrospectives()[0].uri
    posts = [
        ("/lessons/new", "/lessons/new", {"source": source, "text": "Page the DBA\x00."}),
        ("/lessons/new", "/lessons/new", {"new_retrospective": "Q3\x00", "text": "Freeze."}),
        (f"/lessons/{lesson.id}/merge", f"/lessons/{lesson.id}/merge", {"into": "x\x00"}),
        (f"/lessons/{lesson.id}/archive", f"/lessons/{lesson.id}", {"note": "dup\x00"}),
        ("/actions/new", "/actions", {"text": "Rotate\x00 keys", "owner": "dana"}),
    ]
    for path, page, data in posts:
        response = _post_form(client, path, page, data)
        (field,) = (key for key, value in data.items() if "\x00" in value)

        assert response.status_code == 400, (path, response.status_code)
        assert f"the field &#39;{field}&#39; holds a NUL character" in response.get_data(
            as_text=True
        )
    assert store.search("rollback", limit=1, mode="keyword")[0].lesson.id == lesson.id  # kept
    assert (
        _post_form(client, "/actions/new", "/actions", {"text": "Rotate keys"}).status_code == 303
    )


@pytest.mark.parametrize(
    "path, value, part",
    [
        ("issue.key", "OPS-7\x00", "issue key"),
        ("webhookEvent", "jira:issue_updated\x00", "webhookEvent"),
        ("user", {"accountId": "557058:\x00"}, "user"),
        ("issue.fields.project", {"key": "OPS\x00"}, "project key"),
    ],
    ids=["issue-key", "event", "user", "project"],
)
def test_signed_delivery_with_nul_in_a_name_is_400_not_500(
    service, path: str, value: object, part: str
) -> None:
    """The delivery log stores these names as text; PostgreSQL refused them with a 500, which
    Jira retries. Jira's names never hold a NUL, so the delivery is not Jira's: 400."""
    client, runtime = service
    payload = _with(path, value)
    if path == "issue.fields.project":
        del payload["issue"]["key"]  # the project key is the subject only without an issue key

    response = post_delivery(client, payload)

    assert response.status_code == 400
    assert f"the delivery's {part} holds a NUL character" in response.json["reason"]
    assert runtime.deliveries.list() == []


def test_signed_delivery_with_nul_in_free_text_is_stored_as_sent(service) -> None:
    """Summaries, descriptions and comments may hold one (a Jira on MySQL keeps it): refusing
    them would lose the delivery and let that move pass unjudged. The body is kept as bytes."""
    client, runtime = service
    payload = _with("issue.fields.summary", "Rotate\x00 the keys")
    payload["comment"] = {"id": "9", "body": "done\x00", "author": {"accountId": "557058:alice"}}

    response = post_delivery(client, payload)

    assert response.status_code == 202
    stored = runtime.deliveries.get(response.json["key"])
    assert (
        stored is not None
        and stored.payload()["issue"]["fields"]["summary"] == "Rotate\x00 the keys"
    )


@pytest.mark.parametrize(
    "path, value, part",
    [
        ("issue.key", "OPS-" + "7" * 6_000, "issue key"),
        ("webhookEvent", "jira:" + "x" * 6_000, "webhookEvent"),
        ("user", {"accountId": "557058:" + "a" * 6_000}, "user"),
    ],
    ids=["issue-key", "event", "user"],
)
def test_signed_delivery_with_a_name_longer_than_jiras_is_400(
    service, path: str, value: object, part: str
) -> None:
    """PostgreSQL refuses an index entry past 2,704 bytes: a long event name was a 500 there,
    and a long issue key was stored, then never claimable (its claim failed every time)."""
    client, runtime = service

    response = post_delivery(client, _with(path, value))

    assert response.status_code == 400
    assert f"the delivery's {part} is " in response.json["reason"]
    assert "Jira's are at most 300" in response.json["reason"]
    assert runtime.deliveries.list() == []


def test_a_data_center_user_with_long_name_and_key_is_accepted(service) -> None:
    """Each name is measured alone: a Data Center user's name and key may each be long."""
    client, _ = service
    user = {"name": "n" * 255, "key": "JIRAUSER" + "1" * 240}

    assert post_delivery(client, _with("user", user)).status_code == 202
