"""Comments and their `hindsight` entity property, which carries our markers unseen by people."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from plugin.jira.adapter.transport import JiraTransport
from plugin.jira.errors import JiraApiError
from plugin.jira.parse import user_from_json
from plugin.jira.port import COMMENT_PROPERTY, User

COMMENT_PAGE = 100


def comment_body(body: str, markers: Sequence[str]) -> dict[str, Any]:
    """A comment's JSON; `markers` go into the `hindsight` entity property (set on create and
    on update, as both OpenAPI descriptions allow), which people neither see nor edit."""
    sent: dict[str, Any] = {"body": body}
    if markers:
        value = {"markers": list(dict.fromkeys(markers))}
        sent["properties"] = [{"key": COMMENT_PROPERTY, "value": value}]
    return sent


def all_comments(transport: JiraTransport, key: str) -> list[dict[str, Any]]:
    """Every comment on `key`, paged, asking for their properties."""
    comments: list[dict[str, Any]] = []
    while True:
        params = {"startAt": len(comments), "maxResults": COMMENT_PAGE, "expand": "properties"}
        page = transport.rest("GET", f"issue/{key}/comment", params=params)
        values = list(page.get("comments") or ())
        comments.extend(values)
        if not values or len(comments) >= int(page.get("total") or 0):
            return comments


def with_properties(
    transport: JiraTransport, comments: list[dict[str, Any]], me: User | None
) -> list[dict[str, Any]]:
    """Our comments with their `hindsight` property, asked for one by one when the listing
    left properties out (Cloud's reference lists only `renderedBody` for `expand`)."""
    if me is None:
        return comments
    completed = []
    for comment in comments:
        if "properties" not in comment and me.same_as(user_from_json(comment.get("author"))):
            found = _comment_property(transport, str(comment["id"]))
            comment = {**comment, "properties": found}
        completed.append(comment)
    return completed


def _comment_property(transport: JiraTransport, comment_id: str) -> list[dict[str, Any]]:
    try:
        found = transport.rest("GET", f"comment/{comment_id}/properties/{COMMENT_PROPERTY}")
    except JiraApiError as exc:
        if exc.status == 404:  # no such property: a comment from before it
            return []
        raise
    return [found] if isinstance(found, Mapping) else []
