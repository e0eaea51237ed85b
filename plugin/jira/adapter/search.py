"""JQL search, paged the way each deployment pages it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from plugin.jira.adapter.transport import JiraTransport
from plugin.jira.parse import issue_from_json
from plugin.jira.port import Issue


def search(transport: JiraTransport, jql: str, page_size: int) -> Iterator[Issue]:
    """Issues matching `jql`: Cloud's `/search/jql` by page token, Data Center's `/search`
    by offset."""
    if transport.deployment() == "cloud":
        yield from _search_by_token(transport, jql, page_size)
    else:
        yield from _search_by_offset(transport, jql, page_size)


def _search_by_token(transport: JiraTransport, jql: str, page_size: int) -> Iterator[Issue]:
    token: str | None = None
    while True:
        params: dict[str, Any] = {"jql": jql, "maxResults": page_size, "fields": "*all"}
        if token:
            params["nextPageToken"] = token
        page = transport.rest("GET", "search/jql", params=params)
        for raw in page.get("issues") or ():
            yield issue_from_json(raw)
        token = page.get("nextPageToken")
        if not token or page.get("isLast"):
            return


def _search_by_offset(transport: JiraTransport, jql: str, page_size: int) -> Iterator[Issue]:
    start = 0
    while True:
        params = {"jql": jql, "startAt": start, "maxResults": page_size, "fields": "*all"}
        page = transport.rest("GET", "search", params=params)
        issues = list(page.get("issues") or ())
        for raw in issues:
            yield issue_from_json(raw)
        start += len(issues)
        if not issues or start >= int(page.get("total") or 0):
            return
