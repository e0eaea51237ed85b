"""Jira webhook deliveries as events: only the fields Hindsight uses, unknown keys ignored.

Parses Cloud and Server/Data Center deliveries alike, including their quirks: changelog items
without `fieldId`, `"field": "Status"` on create, string timestamps from logging proxies,
`comment_created` without an `issue` object (the issue id is only inside `comment.self`),
`issuelink_created` with numeric ids only.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from kb.text import NUL
from plugin.jira.parse import (
    change_entry_from_json,
    comment_from_json,
    issue_from_json,
    user_from_json,
)
from plugin.jira.port import ChangeEntry, ChangeItem, Comment, Issue, User

_COMMENT_ISSUE_ID = re.compile(r"/issue/(\d+)/comment/")
# Epoch milliseconds up to the year 5138: anything larger is not a time Jira sent.
_MAX_EPOCH_MS = 10**14
# Jira's longest names: a project key may be configured up to 255 characters, an issue key adds
# "-" and a number. Longer is not Jira's, and would not fit a PostgreSQL index entry.
MAX_NAME_CHARS = 300
_Parsed = TypeVar("_Parsed")


class InvalidEvent(ValueError):
    """Not a Jira webhook event: no `webhookEvent` string, or a part shaped unlike Jira's."""


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
    issue: Issue | None  # the snapshot the delivery carries (as Jira saw it when it sent it)
    payload: Mapping[str, Any]

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> JiraEvent:
        """The event in a parsed delivery body; `InvalidEvent` (with a reason) for any other shape.

        Everything the handlers read is parsed here, the issue snapshot included, so a delivery
        that parses can be processed: a shape Jira never sends (`fields` as a list, an author as
        a string) is refused at the edge rather than failing in a worker.
        """
        if not isinstance(payload, Mapping):
            raise InvalidEvent("a Jira webhook body must be a JSON object")
        name = payload.get("webhookEvent")
        if not isinstance(name, str) or not name:
            raise InvalidEvent("the body has no 'webhookEvent' string; is this a Jira webhook?")
        issue = _object(payload, "issue")
        comment_raw = _object(payload, "comment")
        project = _object(payload, "project")
        issue_id = _str(issue.get("id")) if issue else None
        if issue_id is None and comment_raw:
            match = _COMMENT_ISSUE_ID.search(str(comment_raw.get("self", "")))
            issue_id = match.group(1) if match else None
        link = _object(payload, "issueLink")
        if issue_id is None and link:
            issue_id = _str(link.get("sourceIssueId"))
        changelog = _object(payload, "changelog")
        project_key = _str(project.get("key")) if project else None
        actor_raw = payload.get("user")
        if not isinstance(actor_raw, Mapping) and comment_raw:
            # comment events carry no `user`: the comment's (update) author is who acted
            actor_raw = comment_raw.get("updateAuthor") or comment_raw.get("author")
        snapshot = _part("issue", issue_from_json, issue)
        if project_key is None and issue:
            project_key = _part("issue", _project_key, issue)
        event = cls(
            webhook_event=name,
            timestamp=_epoch_ms(payload.get("timestamp")),
            actor=_part(
                "user", user_from_json, actor_raw if isinstance(actor_raw, Mapping) else None
            ),
            issue_key=_str(issue.get("key")) if issue else None,
            issue_id=issue_id,
            changelog=_part("changelog", change_entry_from_json, changelog),
            comment=_part("comment", comment_from_json, comment_raw),
            project_key=project_key,
            issue=snapshot,
            payload=payload,
        )
        event._check_names()
        return event

    def _check_names(self) -> None:
        """`InvalidEvent` when a name the delivery log stores and indexes (event, issue,
        project, actor) holds a NUL character or is longer than MAX_NAME_CHARS: Jira's never
        do, PostgreSQL refuses both (a NUL in text; an index entry past 2,704 bytes), and a
        delivery stored with such an issue key could never be claimed there. Free text
        (summaries, comments) may hold anything: the body is kept as sent, bytes."""
        actor = self.actor
        names = [
            ("webhookEvent", self.webhook_event),
            ("issue key", self.issue_key),
            ("issue id", self.issue_id),
            ("project key", self.project_key),
            *(
                ("user", name)
                for name in ((actor.account_id, actor.name, actor.key) if actor else ())
            ),
        ]
        for part, value in names:
            if value and NUL in value:
                raise InvalidEvent(
                    f"the delivery's {part} holds a NUL character (\\u0000): Jira's never does"
                )
            if value and len(value) > MAX_NAME_CHARS:
                raise InvalidEvent(
                    f"the delivery's {part} is {len(value):,} characters; Jira's are at most"
                    f" {MAX_NAME_CHARS}"
                )

    @property
    def subject(self) -> str | None:
        """What the event is about (issue key, issue id or project): for logs and locking."""
        if self.issue_key:
            return self.issue_key
        if self.issue_id:
            return f"issue-id:{self.issue_id}"
        return f"project:{self.project_key}" if self.project_key else None

    @property
    def status_change(self) -> ChangeItem | None:
        """The status change in this event's changelog, if any (`from`/`to` are status ids)."""
        if self.changelog is None:
            return None
        return next((item for item in self.changelog.items if item.is_status), None)


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _object(payload: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    """`payload[key]` when it is an object, else None (absent, null, or another type)."""
    value = payload.get(key)
    return value if isinstance(value, Mapping) else None


def _part(
    name: str, parse: Callable[[Mapping[str, Any]], _Parsed], raw: Mapping[str, Any] | None
) -> _Parsed | None:
    """`parse(raw)`, or `InvalidEvent` naming the part when its inner shape is not Jira's.

    The parsers in `plugin.jira.parse` are pure functions over JSON values: on JSON input they
    fail only where a value has another type than Jira's (a list where an object belongs...).
    """
    if raw is None:
        return None
    try:
        return parse(raw)
    except (AttributeError, TypeError, ValueError) as exc:
        raise InvalidEvent(f"the delivery's '{name}' is not shaped like Jira's: {exc}") from None


def _project_key(issue: Mapping[str, Any]) -> str | None:
    return _str(((issue.get("fields") or {}).get("project") or {}).get("key"))


def _epoch_ms(value: Any) -> int | None:
    """Jira sends epoch milliseconds; logging proxies turn it into text. Keep only a real time."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        value = int(text) if text.isascii() and text.isdigit() and len(text) <= 15 else None
    if isinstance(value, float) and math.isfinite(value):
        value = int(value)
    if isinstance(value, int) and 0 <= value <= _MAX_EPOCH_MS:
        return value
    return None
