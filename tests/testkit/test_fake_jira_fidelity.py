"""The fake answers like real Jira: webhook bodies shaped like the real deliveries in
../shared/data/jira-webhooks, responses valid against the OpenAPI response schemas."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from plugin.events import JiraEvent
from testkit.fakejira import FakeJira, Webhook
from testkit.fakejira.api import FakeJiraApp
from testkit.fakejira.openapi import RequestValidator, check_response

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
WEBHOOKS = SHARED / "jira-webhooks"
LOGGER_KEYS = {"level", "message", "label"}  # added by jira-to-matrix's logger, not by Jira


def real(name: str) -> dict[str, Any]:
    path = WEBHOOKS / name
    if not path.is_file():
        pytest.skip(f"real deliveries not found at {WEBHOOKS} (../shared/data)")
    body = json.loads(path.read_text(encoding="utf-8"))
    return {k: v for k, v in body.items() if k not in LOGGER_KEYS}


def last(fake: FakeJira, event: str) -> dict[str, Any]:
    return dict(next(w for w in reversed(fake.webhooks) if w.event == event).body)


def assert_same_shape(ours: Any, theirs: Any, where: str = "$") -> None:
    """Same keys at every level (object keys ours ⊆ theirs), same JSON types where both set."""
    if isinstance(theirs, Mapping):
        assert isinstance(ours, Mapping), f"{where}: expected an object"
        extra = set(ours) - set(theirs)
        assert not extra, f"{where}: keys real Jira does not send: {sorted(extra)}"
        for key in set(ours) & set(theirs):
            assert_same_shape(ours[key], theirs[key], f"{where}.{key}")
    elif isinstance(theirs, list) and theirs and ours:
        assert isinstance(ours, list), f"{where}: expected a list"
        for index, item in enumerate(ours):
            assert_same_shape(item, theirs[0], f"{where}[{index}]")
    elif theirs is not None and ours is not None:
        assert _kind(ours) == _kind(theirs), (
            f"{where}: {_kind(ours)} where Jira sends {_kind(theirs)}"
        )


def _kind(value: Any) -> str:
    return "number" if isinstance(value, int | float) else type(value).__name__


def _scenario(fake: FakeJira) -> str:
    key = fake.add_issue("CHG", "Change", "Upgrade", description="d", labels=["db"])
    fake.move(key, "In Progress", as_user="bob")
    fake.move(key, "Done", as_user="bob")
    fake.comment(key, "done", as_user="alice")
    return key


@pytest.mark.shared_data
def test_cloud_transition_delivery_matches_real_cloud(fake_jira: FakeJira) -> None:
    _scenario(fake_jira)
    ours = last(fake_jira, "jira:issue_updated")
    theirs = real("mattermost-plugin-jira__webhook-issue-updated-resolved.json")
    assert set(ours) == set(theirs)
    assert_same_shape(ours, theirs)
    cloud_user = real("jira-to-matrix__issue_updated_status-changed.json")["user"]
    assert set(ours["user"]) <= set(cloud_user)
    item_keys = {tuple(sorted(i)) for i in theirs["changelog"]["items"]}
    assert {tuple(sorted(i)) for i in ours["changelog"]["items"]} <= item_keys
    event = JiraEvent.from_payload(ours)
    assert event.status_change is not None and event.status_change.to_string == "Done"
    assert event.actor is not None and event.actor.account_id == fake_jira.user("bob").account_id


@pytest.mark.shared_data
def test_server_transition_delivery_matches_real_data_center(fake_jira_server: FakeJira) -> None:
    _scenario(fake_jira_server)
    ours = last(fake_jira_server, "jira:issue_updated")
    theirs = real("mattermost-plugin-jira__webhook-server-issue-updated-resolved.json")
    assert set(ours) == set(theirs)
    assert_same_shape(ours, theirs)
    assert set(ours["user"]) == set(theirs["user"])
    assert all("fieldId" not in item for item in ours["changelog"]["items"])
    assert JiraEvent.from_payload(ours).actor.name == "bob"  # type: ignore[union-attr]


@pytest.mark.shared_data
def test_cloud_created_delivery_carries_the_initial_values(fake_jira: FakeJira) -> None:
    _scenario(fake_jira)
    ours = last(fake_jira, "jira:issue_created")
    theirs = real("mattermost-plugin-jira__webhook-issue-created.json")
    assert set(ours) == set(theirs)
    assert_same_shape(ours, theirs)
    status = next(i for i in ours["changelog"]["items"] if i["fieldId"] == "status")
    assert status["field"] == "Status" and status["from"] is None
    assert ours["issue_event_type_name"] == theirs["issue_event_type_name"] == "issue_created"


@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("flavour", "sample"),
    [
        ("cloud", "mattermost-plugin-jira__webhook-cloud-comment-created.json"),
        ("server", "mattermost-plugin-jira__webhook-server-comment-created.json"),
    ],
)
def test_comment_delivery_matches_real(fake_jira_factory, flavour: str, sample: str) -> None:
    fake = fake_jira_factory(flavour)
    key = _scenario(fake)
    ours = last(fake, "comment_created")
    theirs = real(sample)
    assert set(ours) == set(theirs)
    assert_same_shape(ours, theirs)
    if "issue" in theirs:
        assert set(ours["issue"]["fields"]) == set(theirs["issue"]["fields"])
    event = JiraEvent.from_payload(ours)
    assert event.comment is not None and event.comment.body == "done"
    assert event.issue_id == fake.issue(key).id


@pytest.mark.shared_data
def test_project_created_delivery_matches_real(fake_jira: FakeJira) -> None:
    fake_jira.add_project("OPS", "Operations", lead="alice")
    ours = last(fake_jira, "project_created")
    theirs = real("jira-to-matrix__project_created.json")
    theirs.pop("timestamp"), ours.pop("timestamp")  # theirs went through a logger (a string)
    assert set(ours) == set(theirs)
    assert_same_shape(ours, theirs)
    assert JiraEvent.from_payload(ours).project_key == "OPS"


@pytest.mark.shared_data
def test_issue_object_keys_are_a_subset_of_real_ones(fake_jira: FakeJira) -> None:
    _scenario(fake_jira)
    ours = last(fake_jira, "jira:issue_updated")["issue"]["fields"]
    theirs = real("mattermost-plugin-jira__webhook-issue-updated-resolved.json")["issue"]["fields"]
    ours_system = {k for k in ours if not k.startswith("customfield_")}
    assert ours_system <= set(theirs)
    assert {"status", "resolution", "labels", "issuetype", "project", "summary"} <= ours_system


@pytest.mark.shared_data
@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_responses_match_the_openapi_response_schemas(
    fake_jira_factory, jira_openapi_validator: RequestValidator | None, flavour: str
) -> None:
    if jira_openapi_validator is None:
        pytest.skip("the Jira OpenAPI description is absent (../shared/data)")
    fake = fake_jira_factory(flavour)
    key = _scenario(fake)
    sub = fake.add_issue("CHG", "Sous-tâche", "sub", parent=key)
    fake.link(sub, key)
    bot = fake.service_account
    auth = "Basic " + base64.b64encode(f"{bot.email}:{bot.api_token}".encode()).decode()
    calls = [
        (f"/rest/api/2/issue/{key}", {"expand": "changelog"}),
        (f"/rest/api/2/issue/{key}/transitions", {"expand": "transitions.fields"}),
        (f"/rest/api/2/issue/{key}/comment", {}),
        ("/rest/api/2/field", {}),
        ("/rest/api/2/project/CHG", {}),
        ("/rest/api/2/myself", {}),
        ("/rest/api/2/serverInfo", {}),
        (f"/rest/api/2/issue/{key}/editmeta", {}),
        ("/rest/api/2/issue/createmeta/CHG/issuetypes/10003", {}),
        ("/rest/api/2/mypermissions", {"projectKey": "CHG", "permissions": "EDIT_ISSUES"}),
    ]
    if flavour == "cloud":
        calls += [
            (f"/rest/api/2/issue/{key}/changelog", {}),
            ("/rest/api/2/user/groups", {"accountId": fake.user("alice").account_id}),
            ("/rest/api/2/search/jql", {"jql": "project = CHG", "maxResults": "1"}),
        ]
    else:
        calls += [
            ("/rest/api/2/search", {"jql": "project = CHG"}),
            ("/rest/api/2/user", {"username": "alice", "expand": "groups"}),
        ]
    app = FakeJiraApp(fake)
    problems = []
    for path, query in calls:
        environ = EnvironBuilder(path=path, query_string=query, headers={"Authorization": auth})
        request = Request(environ.get_environ())
        response = app.handle(request)
        assert response.status_code == 200, (path, response.get_data())
        problems += [
            f"{path}: {p}"
            for p in check_response(
                jira_openapi_validator, request, response.status_code, response.get_data()
            )
        ]
    assert not problems, "\n".join(problems)


def test_delivered_webhook_headers(fake_jira: FakeJira) -> None:
    received: list[Webhook] = []
    fake_jira.send_webhooks_to(received.append, secret="s3cret")
    key = fake_jira.add_issue("CHG", "Change", "x")
    fake_jira.deliver_webhooks()
    (webhook,) = received
    from plugin.jira.signature import sign  # the one signer, checked on Jira's test vector

    assert webhook.headers["X-Hub-Signature"] == sign(webhook.raw, "s3cret")
    assert webhook.headers["X-Atlassian-Webhook-Identifier"] == webhook.identifier
    assert json.loads(webhook.raw)["issue"]["key"] == key
