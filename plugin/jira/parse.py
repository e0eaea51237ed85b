"""Turn Jira's REST JSON (v2 `GET /issue`, webhook `issue` objects) into the port's values.

Tolerant by design: real payloads differ between Cloud and Data Center and over the years, so a
missing key yields an empty value, never an exception.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from plugin.jira.port import (
    COMMENT_PROPERTY,
    ChangeEntry,
    ChangeItem,
    Comment,
    Issue,
    IssueLink,
    IssueRef,
    IssueType,
    Status,
    User,
    markers_in,
)

_CATEGORIES = {"new", "indeterminate", "done"}


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def user_from_json(raw: Mapping[str, Any] | None) -> User | None:
    if not raw:
        return None
    return User(
        account_id=_str(raw.get("accountId")),
        name=_str(raw.get("name")),
        key=_str(raw.get("key")),
        display_name=str(raw.get("displayName") or raw.get("name") or ""),
    )


def status_from_json(raw: Mapping[str, Any] | None) -> Status:
    raw = raw or {}
    category = (raw.get("statusCategory") or {}).get("key")
    return Status(
        id=str(raw.get("id", "")),
        name=str(raw.get("name", "")),
        category=category if category in _CATEGORIES else "undefined",
    )


def issuetype_from_json(raw: Mapping[str, Any] | None) -> IssueType:
    raw = raw or {}
    return IssueType(
        id=str(raw.get("id", "")), name=str(raw.get("name", "")), subtask=bool(raw.get("subtask"))
    )


def issue_ref_from_json(raw: Mapping[str, Any]) -> IssueRef:
    fields = raw.get("fields") or {}
    return IssueRef(
        key=str(raw.get("key", "")),
        id=str(raw.get("id", "")),
        summary=str(fields.get("summary") or ""),
        status=status_from_json(fields["status"]) if fields.get("status") else None,
        issuetype=issuetype_from_json(fields["issuetype"]) if fields.get("issuetype") else None,
    )


def comment_from_json(raw: Mapping[str, Any], me: User | None = None) -> Comment:
    """A comment; `me` (the service account) decides whose comments carry markers."""
    body = raw.get("body")
    text = body if isinstance(body, str) else ""
    author = user_from_json(raw.get("author"))
    return Comment(
        id=str(raw.get("id", "")),
        body=text,
        author=author,
        created=str(raw.get("created") or ""),
        updated=str(raw.get("updated") or ""),
        markers=own_markers(author, me, raw.get("properties"), text),
    )


def own_markers(
    author: User | None, me: User | None, properties: Any, body: str
) -> tuple[str, ...]:
    """Hindsight's markers on a comment: none unless `me` wrote it; else those its `hindsight`
    entity property lists (`expand=properties`), else (comments from before the property)
    the markers in its body."""
    if me is None or not me.same_as(author):
        return ()
    for prop in properties if isinstance(properties, list) else ():
        if isinstance(prop, Mapping) and prop.get("key") == COMMENT_PROPERTY:
            value = prop.get("value")
            listed = value.get("markers") if isinstance(value, Mapping) else None
            if isinstance(listed, list):
                return tuple(str(m) for m in listed)
    return markers_in(body)


def change_item_from_json(raw: Mapping[str, Any]) -> ChangeItem:
    return ChangeItem(
        field=str(raw.get("field", "")),
        field_id=_str(raw.get("fieldId")),
        from_value=_str(raw.get("from")),
        from_string=_str(raw.get("fromString")),
        to_value=_str(raw.get("to")),
        to_string=_str(raw.get("toString")),
    )


def change_entry_from_json(raw: Mapping[str, Any]) -> ChangeEntry:
    return ChangeEntry(
        id=str(raw.get("id", "")),
        created=str(raw.get("created") or ""),
        author=user_from_json(raw.get("author")),
        items=tuple(change_item_from_json(i) for i in raw.get("items") or ()),
    )


def _link_from_json(raw: Mapping[str, Any]) -> IssueLink | None:
    link_type = raw.get("type") or {}
    if raw.get("outwardIssue"):
        direction, other, text = "outward", raw["outwardIssue"], link_type.get("outward", "")
    elif raw.get("inwardIssue"):
        direction, other, text = "inward", raw["inwardIssue"], link_type.get("inward", "")
    else:
        return None
    return IssueLink(
        type=str(link_type.get("name", "")),
        direction=direction,
        description=str(text),
        issue=issue_ref_from_json(other),
    )


def _names(values: Any, key: str = "name") -> tuple[str, ...]:
    return tuple(str(v.get(key)) for v in values or () if isinstance(v, Mapping) and v.get(key))


def issue_from_json(raw: Mapping[str, Any], me: User | None = None) -> Issue:
    """An `Issue` from a `GET /issue/{key}` body or a webhook's `issue` object; `me` is the
    service account, whose comments carry their markers."""
    fields: Mapping[str, Any] = raw.get("fields") or {}
    project = fields.get("project") or {}
    key = str(raw.get("key", ""))
    comment_block = fields.get("comment")
    comments = comment_block.get("comments", ()) if isinstance(comment_block, Mapping) else ()
    changelog = (raw.get("changelog") or {}).get("histories") or ()
    description = fields.get("description")
    return Issue(
        key=key,
        id=str(raw.get("id", "")),
        project=str(project.get("key") or key.rpartition("-")[0]),
        issuetype=issuetype_from_json(fields.get("issuetype")),
        status=status_from_json(fields.get("status")),
        summary=str(fields.get("summary") or ""),
        description=description if isinstance(description, str) else "",
        priority=_str((fields.get("priority") or {}).get("name")),
        labels=tuple(str(label) for label in fields.get("labels") or ()),
        components=_names(fields.get("components")),
        resolution=_str((fields.get("resolution") or {}).get("name")),
        assignee=user_from_json(fields.get("assignee")),
        reporter=user_from_json(fields.get("reporter")),
        parent=_str((fields.get("parent") or {}).get("key")),
        duedate=_str(fields.get("duedate")),
        created=str(fields.get("created") or ""),
        updated=str(fields.get("updated") or ""),
        subtasks=tuple(issue_ref_from_json(s) for s in fields.get("subtasks") or ()),
        links=tuple(link for link in map(_link_from_json, fields.get("issuelinks") or ()) if link),
        comments=tuple(comment_from_json(c, me) for c in comments),
        changelog=tuple(change_entry_from_json(h) for h in changelog),
        fields=dict(fields),
    )
