"""Property-based tests of the webhook edge: no delivery, signed or not, gets a 5xx or a crash.

- `JiraEvent.from_payload` on arbitrary JSON shapes (keys drawn from Jira's own and at random)
  and on real deliveries mutated (a part deleted or replaced by arbitrary JSON): it returns an
  event or raises `InvalidEvent` with a reason, nothing else.
- `POST /webhooks/jira` through Flask's test client, every body correctly signed, against a
  report-only Hindsight with the real policy and lessons handlers: the answer is 200, 202 or a
  400 with a reason, and every accepted delivery ends (done, skipped, ignored, or dead with its
  reason) in one attempt, never waiting for a retry that could not mend it.

- Every page with arbitrary query parameters (known names and random ones): never a 5xx.
- The endpoint with arbitrary credential headers (signature, automation token, Basic, retry,
  delivery id) and `?token=` values, unsigned or odd: 200, 202, 400 or 401, never a 5xx.

Examples per run (profile "hindsight" in tests/conftest.py, the same every run;
HYPOTHESIS_PROFILE=thorough draws ten times as many, at random): 400 arbitrary payloads and
400 mutated deliveries for the parser, 150 arbitrary bodies and 250 mutated deliveries for the
endpoint, 200 page queries, 200 header sets: 1,600 in all, and the 800 through the app once
more on PostgreSQL (the `hindsight` fixture runs on both engines: PostgreSQL refuses what SQLite
keeps, such as a NUL in a text; a run there found the pages' 500s on `%00`). `pytest
--hypothesis-show-statistics` prints the counts and timings.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from hindsight.config import load_settings
from hindsight.wiring import Config, Runtime, build_runtime
from hindsight.wsgi import create_app
from plugin.events import InvalidEvent, JiraEvent
from plugin.lessons.services import build_services
from testkit.kb import HashingEmbedder
from tests.conftest import examples
from tests.webhooks.helpers import RETRO_WITH_SCRIPT, issue_updated, post_delivery
from webhooks.queue import build_delivery_queue, build_huey
from webhooks.store import DEAD, DONE, IGNORED, SKIPPED

ROOT = Path(__file__).resolve().parents[2]
SECRET = "property-test-secret"
FINAL = {DONE, SKIPPED, IGNORED, DEAD}


def _real_shaped_deliveries() -> list[dict[str, Any]]:
    """The project's example deliveries, and the shared real ones when they are there."""
    paths = sorted((ROOT / "examples" / "deliveries").glob("*.json"))
    shared = ROOT.parent / "shared" / "data" / "jira-webhooks"
    if shared.is_dir():
        paths += sorted(shared.glob("*.json"))
    return [issue_updated(), *(json.loads(p.read_text(encoding="utf-8")) for p in paths)]


BASES = _real_shaped_deliveries()
JIRA_KEYS = sorted(
    {
        *("webhookEvent", "timestamp", "user", "issue", "comment", "changelog", "project"),
        *("issueLink", "fields", "key", "id", "self", "author", "updateAuthor", "items"),
        *("field", "fieldId", "from", "to", "fromString", "toString", "status", "summary"),
        *("statusCategory", "issuetype", "description", "labels", "components", "priority"),
        *("resolution", "assignee", "reporter", "parent", "subtasks", "issuelinks", "type"),
        *("outwardIssue", "inwardIssue", "histories", "comments", "accountId", "name", "body"),
        *("displayName", "sourceIssueId", "projectCategory", "projectTypeKey", "created"),
        *("updated", "duedate", "subtask", "inward", "outward", "customfield_10050", "value"),
    }
)
EVENTS = st.sampled_from(
    [
        "jira:issue_created",
        "jira:issue_updated",
        "jira:issue_deleted",
        "comment_created",
        "comment_updated",
        "project_created",
        "issuelink_created",
    ]
) | st.text(max_size=12)
LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    # a lone surrogate, and a NUL, which PostgreSQL's text refuses where SQLite keeps it
    | st.sampled_from(["", "OPS-7", "10001", "1700000000000", "\ud800", "x\udfffy", "OPS-\x007"])
)
KEYS = st.sampled_from(JIRA_KEYS) | st.text(max_size=8)
JSON = st.recursive(
    LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5),
    max_leaves=30,
)
PAYLOADS = st.fixed_dictionaries(
    {"webhookEvent": EVENTS},
    optional={
        key: JSON
        for key in ("timestamp", "user", "issue", "comment", "changelog", "project", "issueLink")
    },
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path into a JSON value (dict keys and list indexes), the value's own first."""
    yield prefix
    if isinstance(value, dict | list):
        for key, item in value.items() if isinstance(value, dict) else enumerate(value):
            yield from _paths(item, (*prefix, key))


@st.composite
def mutated_deliveries(draw: st.DrawFn) -> dict[str, Any]:
    """A real-shaped delivery with one to three parts deleted or replaced by arbitrary JSON."""
    payload = copy.deepcopy(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(list(_paths(payload))[1:]))
        parent = payload
        for key in path[:-1]:
            parent = parent[key]
        if isinstance(parent, dict) and draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(JSON)
    return payload


def _parses_or_refuses(payload: Any) -> JiraEvent | None:
    try:
        parsed = JiraEvent.from_payload(payload)
    except InvalidEvent as refused:
        assert str(refused), "a refusal says why"
        event("refused")
        return None
    event("parsed")
    assert isinstance(parsed.webhook_event, str) and parsed.webhook_event
    assert parsed.timestamp is None or 0 <= parsed.timestamp <= 10**14
    assert parsed.subject is None or isinstance(parsed.subject, str)
    # the names the delivery log stores as text: no NUL, which PostgreSQL refuses
    stored = (parsed.webhook_event, parsed.subject, parsed.actor.ref if parsed.actor else None)
    assert not any("\x00" in name for name in stored if name)
    parsed.status_change  # noqa: B018 - reading it must not raise either
    return parsed


@settings(max_examples=examples(400))
@given(payload=PAYLOADS | JSON)
def test_the_parser_parses_or_refuses_arbitrary_json(payload: Any) -> None:
    _parses_or_refuses(payload)


@settings(max_examples=examples(400))
@given(payload=mutated_deliveries())
def test_the_parser_parses_or_refuses_mutated_real_deliveries(payload: dict[str, Any]) -> None:
    _parses_or_refuses(payload)


def test_every_unmutated_base_delivery_parses() -> None:
    """The mutations start from deliveries the parser accepts (else the test proves little)."""
    for base in BASES:
        assert JiraEvent.from_payload(base).webhook_event == base["webhookEvent"]


# -- the endpoint, against a report-only Hindsight with the real handlers


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def hindsight(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[FlaskClient, Runtime]:
    """Report-only (no Jira): handlers read the snapshot each delivery carries. On each engine:
    PostgreSQL refuses what SQLite takes (a NUL in a text), so the same examples run on both."""
    tmp = tmp_path_factory.mktemp("properties")
    db: Path | str = tmp / "hindsight.db"
    if request.param == "postgresql":
        server = request.getfixturevalue("postgres_server")
        db = server.create_database()
        request.addfinalizer(lambda: server.drop_database(db))
    settings_ = load_settings(
        environ={},
        overrides={
            "db": db,
            "queue": f"sqlite:///{tmp / 'queue.db'}",
            "webhook_secret": [SECRET],
            "webhook_basic_auth": ["jira:basic-password"],
            "webhook_url_token": ["url-token"],
            "policy_file": ROOT / "deploy" / "policies" / "itil-change.yaml",
        },
    )
    config = Config(settings_)
    services = build_services(config.lessons, embedder=HashingEmbedder())
    assert services.store is not None
    services.store.ingest_source("retros/pay-4.2.md", RETRO_WITH_SCRIPT)
    runtime = build_runtime(config, lessons=services)
    queue = build_delivery_queue(runtime, huey=build_huey("memory://", immediate=True))
    app = create_app(runtime=runtime, queue=queue, test_config={"TESTING": True})
    return app.test_client(), runtime


def _post_and_check(hindsight: tuple[FlaskClient, Runtime], body: bytes) -> None:
    client, runtime = hindsight
    response = post_delivery(client, None, raw=body, secret=SECRET)

    assert response.status_code in (200, 202, 400), response.get_data(as_text=True)
    answer = response.get_json()
    if response.status_code == 400:
        assert answer["status"] == "rejected" and answer["reason"]
        event("400")
        return
    row = runtime.deliveries.get(answer["key"])
    assert row is not None
    event(f"{response.status_code} {row.status}")
    assert row.status in FINAL and row.attempts <= 1, (row.status, row.last_error)


@settings(max_examples=examples(150), suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=PAYLOADS | JSON)
def test_signed_arbitrary_json_is_never_a_5xx(hindsight, value: Any) -> None:
    _post_and_check(hindsight, json.dumps(value).encode())


@settings(max_examples=examples(250), suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=mutated_deliveries())
def test_signed_mutated_real_deliveries_are_never_a_5xx_and_end_at_once(
    hindsight, payload: dict[str, Any]
) -> None:
    _post_and_check(hindsight, json.dumps(payload).encode())


PAGES = [
    "/",
    "/lessons",
    "/lessons/L-1",
    "/lessons/export.csv",
    "/retrospectives",
    "/retrospectives/R1",
    "/projects/PAY",
    "/audit",
    "/audit/export.json",
    "/dashboard",
    "/lessons/feedback",
]
PAGE_PARAMETERS = [
    "q", "project", "kind", "tag", "since", "mode", "sort", "page", "issue", "rule", "outcome",
    "days", "before",
]  # fmt: skip
PARAMETER_VALUES = st.text(max_size=30) | st.sampled_from(
    ["", "abc", "0", "-1", "367", "9" * 400, "²", "7d", "99999999999d", "2026-03-01", "\x00"]
)


@settings(max_examples=examples(200), suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    page=st.sampled_from(PAGES),
    query=st.dictionaries(
        st.sampled_from(PAGE_PARAMETERS) | st.text(max_size=5), PARAMETER_VALUES, max_size=4
    ),
)
def test_pages_answer_any_query_without_a_5xx(hindsight, page: str, query: dict[str, str]) -> None:
    client, _ = hindsight
    response = client.get(page, query_string=query)

    assert response.status_code < 500, (page, query, response.status_code)
    event(f"{page} {response.status_code}")


# What a WSGI server can hand over: header values are latin-1 text without line breaks.
HEADER_TEXT = st.text(st.characters(max_codepoint=255, exclude_characters="\r\n"), max_size=80)
CREDENTIAL_HEADERS = [
    "X-Hub-Signature",
    "X-Hindsight-Token",
    "Authorization",
    "X-Atlassian-Webhook-Retry",
    "X-Atlassian-Webhook-Identifier",
    "Content-Type",
]


@settings(max_examples=examples(200), suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    headers=st.dictionaries(
        st.sampled_from(CREDENTIAL_HEADERS),
        HEADER_TEXT
        | st.sampled_from(["sha256=é", "Basic é", "Basic amlyYTpiYXNpYy1wYXNzd29yZA==", "²"]),
        max_size=4,
    ),
    url_token=st.none() | HEADER_TEXT | st.just("url-token"),
    body=st.binary(max_size=64) | JSON.map(lambda value: json.dumps(value).encode()),
)
def test_any_headers_and_url_token_are_never_a_5xx(
    hindsight, headers: dict[str, str], url_token: str | None, body: bytes
) -> None:
    client, _ = hindsight
    query = {"token": url_token} if url_token is not None else None
    response = client.post("/webhooks/jira", data=body, headers=headers, query_string=query)

    assert response.status_code in (200, 202, 400, 401), response.get_data(as_text=True)
    assert response.get_json()["reason" if response.status_code >= 400 else "status"]
    event(str(response.status_code))
