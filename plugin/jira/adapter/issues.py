"""Reading one issue whole: its changelog past Cloud's embedded 100 and its comments past the
embedded page, with our comments' entity properties (how we find the comments we wrote)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from plugin.jira.adapter.comments import all_comments, with_properties
from plugin.jira.adapter.transport import API, JiraTransport
from plugin.jira.parse import issue_from_json, user_from_json
from plugin.jira.port import Issue, User

CHANGELOG_PAGE = 100  # the largest page Jira Cloud serves for /issue/{key}/changelog


def read_issue(transport: JiraTransport, key: str, me: Callable[[], User]) -> Issue:
    """Issue `key` with its whole changelog and, when some are ours or missing, every comment;
    `me` names the service account (asked only when the issue has comments)."""
    path = f"{API}/issue/{key}"
    raw = transport.call("GET", path, lambda: transport.client.issue(key, expand="changelog").raw)
    raw = dict(raw)
    changelog = raw.get("changelog") or {}
    histories = list(changelog.get("histories") or ())
    missing = int(changelog.get("total") or 0) - len(histories)
    if missing > 0 and transport.deployment() == "cloud":
        # Cloud embeds only the newest 100 (newest first); Data Center embeds them all
        histories = _merge_histories(_older_histories(transport, key, missing), histories)
    raw["changelog"] = {"histories": histories}  # `Issue` puts them oldest first
    fields = dict(raw.get("fields") or {})
    block = fields.get("comment")
    embedded = list(block.get("comments") or ()) if isinstance(block, Mapping) else []
    account = me() if embedded else None
    mine = account is not None and any(
        account.same_as(user_from_json(c.get("author"))) for c in embedded
    )
    if mine or (isinstance(block, Mapping) and int(block.get("total") or 0) > len(embedded)):
        # every comment, with entity properties: ours are found by their `hindsight` one
        comments = with_properties(transport, all_comments(transport, key), account)
        fields["comment"] = {"comments": comments}
        raw["fields"] = fields
    return issue_from_json(raw, account)


def _older_histories(transport: JiraTransport, key: str, missing: int) -> list[dict[str, Any]]:
    """The `missing` oldest histories, from Cloud's `/issue/{key}/changelog` (oldest first;
    Data Center has no such resource)."""
    histories: list[dict[str, Any]] = []
    while len(histories) < missing:
        page = transport.rest(
            "GET",
            f"issue/{key}/changelog",
            params={"startAt": len(histories), "maxResults": CHANGELOG_PAGE},
        )
        values = list(page.get("values") or ())
        histories.extend(values)
        if page.get("isLast", True) or not values:
            break
    return histories


def _merge_histories(*pages: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Histories from several reads, each once (by id; a later page's copy wins)."""
    merged: dict[str, dict[str, Any]] = {}
    for page in pages:
        for history in page:
            merged[str(history.get("id", ""))] = dict(history)
    return list(merged.values())
