"""Jira webhook deliveries as events: only the fields Hindsight uses, unknown keys ignored.

Parses Cloud and Server/Data Center deliveries alike, including their quirks: changelog items
without `fieldId`, `"field": "Status"` on create, string timestamps from logging proxies,
`comment_created` without an `issue` object (the issue id is only inside `comment.self`),
`issuelink_created` with numeric ids only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from plugin.jira.parse import (
    change_entry_from_json,
    comment_from_json,
    issue_from_json,
    user_from_json,
)
from plugin.jira.port import ChangeEntry, ChangeItem, Comment, Issue, User

_COMMENT_ISSUE_ID = re.compile(r"/issue/(\d+)/comment/")


class InvalidEvent(ValueError):
    """The delivery is not a Jira webhook event: it has no `webhookEvent` string."""


@dataclass(frozen=True)
class JiraEvent:
    """One webhook delivery's content; `payload` keeps the whole body for handlers."""

    webhook_event: str
    timestamp: int | None
    actor: User | None
    issue_key: str | None
    issue_id: str | None
    changelog: ChangeEntry | None
    comment: Comment | None
    project_key: str | None
    payload: Mapping[str, Any]

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> JiraEvent:
        if not isinstance(payload, Mapping):
            raise InvalidEvent("a Jira webhook body must be a JSON object")
        name = payload.get("webhookEvent")
        if not isinstance(name, str) or not name:
            raise InvalidEvent("the body has no 'webhookEvent' string; is this a Jira webhook?")
        issue = payload.get("issue") if isinstance(payload.get("issue"), Mapping) else None
        comment_raw = (
            payload.get("comment") if isinstance(payload.get("comment"), Mapping) else None
        )
        project = payload.get("project") if isinstance(payload.get("project"), Mapping) else None
        issue_id = _str(issue.get("id")) if issue else None
        if issue_id is None and comment_raw:
            match = _COMMENT_ISSUE_ID.search(str(comment_raw.get("self", "")))
            issue_id = match.group(1) if match else None
        if issue_id is None and isinstance(payload.get("issueLink"), Mapping):
            issue_id = _str(payload["issueLink"].get("sourceIssueId"))
        changelog = payload.get("changelog")
        project_key = _str(project.get("key")) if project else None
        actor_raw = payload.get("user")
        if not isinstance(actor_raw, Mapping) and comment_raw:
            # comment events carry no `user`: the comment's (update) author is who acted
            actor_raw = comment_raw.get("updateAuthor") or comment_raw.get("author")
        if project_key is None and issue:
            project_key = _str(((issue.get("fields") or {}).get("project") or {}).get("key"))
        return cls(
            webhook_event=name,
            timestamp=_epoch_ms(payload.get("timestamp")),
            actor=user_from_json(actor_raw if isinstance(actor_raw, Mapping) else None),
            issue_key=_str(issue.get("key")) if issue else None,
            issue_id=issue_id,
            changelog=change_entry_from_json(changelog) if isinstance(changelog, Mapping) else None,
            comment=comment_from_json(comment_raw) if comment_raw else None,
            project_key=project_key,
            payload=payload,
        )

    @property
    def subject(self) -> str | None:
        """What the event is about (issue key, issue id or project): for logs and locking."""
        if self.issue_key:
            return self.issue_key
        if self.issue_id:
            return f"issue-id:{self.issue_id}"
        return f"project:{self.project_key}" if self.project_key else None

    @cached_property
    def issue(self) -> Issue | None:
        """The issue snapshot carried by the delivery (as Jira saw it when it sent the event)."""
        raw = self.payload.get("issue")
        return issue_from_json(raw) if isinstance(raw, Mapping) else None

    @property
    def status_change(self) -> ChangeItem | None:
        """The status change in this event's changelog, if any (`from`/`to` are status ids)."""
        if self.changelog is None:
            return None
        return next((item for item in self.changelog.items if item.is_status), None)


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _epoch_ms(value: Any) -> int | None:
    """Jira sends epoch milliseconds; logging proxies turn it into text. Keep only a number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None
