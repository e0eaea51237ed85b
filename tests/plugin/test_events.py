"""Every real delivery in ../shared/data/jira-webhooks parses, and so do our own fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from plugin.events import InvalidEvent, JiraEvent

SHARED_WEBHOOKS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "jira-webhooks"


def _real_deliveries() -> list[Path]:
    return sorted(SHARED_WEBHOOKS.glob("*.json")) if SHARED_WEBHOOKS.is_dir() else []


@pytest.mark.shared_data
@pytest.mark.parametrize(
    "path", _real_deliveries() or [None], ids=lambda p: p.name if p else "absent"
)
def test_every_real_delivery_parses(path: Path | None) -> None:
    if path is None:
        pytest.skip(f"real deliveries not found at {SHARED_WEBHOOKS.resolve()} (../shared/data)")
    payload = json.loads(path.read_text(encoding="utf-8"))

    event = JiraEvent.from_payload(payload)

    assert event.webhook_event == payload["webhookEvent"]
    assert event.subject, "every real delivery is about an issue or a project"
    if event.webhook_event.startswith("jira:issue"):
        assert event.issue is not None and event.issue.key == event.issue_key
        assert event.actor is not None
    if event.changelog is not None:
        assert all(item.field for item in event.changelog.items)


@pytest.mark.shared_data
def test_the_real_set_has_the_documented_quirks() -> None:
    paths = _real_deliveries()
    if not paths:
        pytest.skip(f"real deliveries not found at {SHARED_WEBHOOKS.resolve()} (../shared/data)")
    events = [JiraEvent.from_payload(json.loads(p.read_text(encoding="utf-8"))) for p in paths]

    server_status = [
        e.status_change for e in events if e.status_change and e.status_change.field_id is None
    ]
    comments_without_issue = [e for e in events if e.comment and e.issue is None]
    assert server_status, "Server/DC status changes without fieldId"
    assert all(e.issue_id for e in comments_without_issue)


SERVER_COMMENT = {
    "timestamp": 1_600_000_000_000,
    "webhookEvent": "comment_created",
    "comment": {
        "self": "https://jira.example.com/rest/api/2/issue/10203/comment/10300",
        "id": "10300",
        "author": {"name": "alice", "key": "JIRAUSER10000", "displayName": "Alice"},
        "body": "Looks risky.",
    },
}

LOGGED_CLOUD_CREATE = {
    "level": "info",
    "message": "webhook",
    "timestamp": "1700000000000",
    "webhookEvent": "jira:issue_created",
    "user": {"accountId": "5b10ac8d82e05b22cc7d4ef5"},
    "issue": {
        "id": "10001",
        "key": "CHG-1",
        "fields": {"status": {"id": "1", "name": "Open"}, "project": {"key": "CHG"}},
    },
    "changelog": {
        "id": "1",
        "items": [{"field": "Status", "fieldId": "status", "from": None, "to": "1"}],
    },
}


def test_server_comment_without_issue_object() -> None:
    event = JiraEvent.from_payload(SERVER_COMMENT)

    assert event.issue_id == "10203" and event.subject == "issue-id:10203"
    assert event.actor is not None and event.actor.name == "alice"


def test_logged_delivery_with_string_timestamp_and_extra_keys() -> None:
    event = JiraEvent.from_payload(LOGGED_CLOUD_CREATE)

    assert event.timestamp == 1_700_000_000_000
    assert event.status_change is not None and event.status_change.to_value == "1"
    assert event.project_key == "CHG"


def test_issuelink_created_with_numeric_ids_only() -> None:
    payload = {
        "webhookEvent": "issuelink_created",
        "issueLink": {"id": 10500, "sourceIssueId": 10001, "destinationIssueId": 10002},
    }

    assert JiraEvent.from_payload(payload).subject == "issue-id:10001"


@pytest.mark.parametrize("payload", [[], {"issue": {}}, {"webhookEvent": ""}])
def test_not_an_event(payload: object) -> None:
    with pytest.raises(InvalidEvent):
        JiraEvent.from_payload(payload)  # type: ignore[arg-type]
