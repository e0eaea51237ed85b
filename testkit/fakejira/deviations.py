"""Every deliberate departure from Atlassian's v3 descriptions when validating v2 requests.

The descriptions (`platform-swagger.v3.json`, a 2022 snapshot, and `...v3.2025-12.json`)
document REST v3. Hindsight speaks v2, which has the same paths and shapes except for the
points below. This module is the ONE place they are listed; the validator applies them before
checking a request against either description.

1. Paths: `/rest/api/2/...` is checked as its twin `/rest/api/3/...`.
2. Transition id: the `jira` library sends `{"transition": {"id": 41}}` (an integer); v3
   declares a string. v2 Jira accepts both. Checked as a string.
3. Text bodies: v2 takes wiki-markup strings where v3 wants Atlassian Document Format
   objects: comment `body`, and `description` / `environment` in issue `fields`. Checked as
   a one-paragraph ADF document.
4. Timestamps: Jira writes `2019-02-15T19:01:52.971-0800` (no colon in the offset; see the
   real deliveries), the description declares RFC 3339 `date-time`. Responses are checked with
   the colon inserted.
5. Changelog items: real Jira sends `"from": null` (and null `fromString`, `to`, `toString`)
   for empty values, as the real deliveries show; the description declares them non-nullable
   strings. Responses are checked with those null keys left out.
6. Authentication is not validated against `securitySchemes`: Data Center personal access
   tokens use `Authorization: Bearer`, which the Cloud description does not list.
"""

from __future__ import annotations

import json
import re
from typing import Any

V2, V3 = "/rest/api/2/", "/rest/api/3/"
_JIRA_OFFSET = re.compile(rb'(\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{2})(\d{2})"')

# fields whose v2 value is wiki text but v3 value is an ADF document
WIKI_TEXT_FIELDS = ("description", "environment")


def v3_path(path: str) -> str:
    return V3 + path.removeprefix(V2) if path.startswith(V2) else path


def adf(text: str) -> dict[str, Any]:
    """`text` as the smallest valid Atlassian Document Format document."""
    return {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": text or " "}]}],
    }


def as_v3_body(template: str, body: Any) -> Any:
    """The v3 twin of a v2 request body (deviations 2 and 3)."""
    if not isinstance(body, dict):
        return body
    body = dict(body)
    if template.endswith("/transitions") and isinstance(body.get("transition"), dict):
        transition = dict(body["transition"])
        if isinstance(transition.get("id"), int):
            transition["id"] = str(transition["id"])
        body["transition"] = transition
    if "/comment" in template and isinstance(body.get("body"), str):
        body["body"] = adf(body["body"])
    if isinstance(body.get("fields"), dict):
        fields = dict(body["fields"])
        for name in WIKI_TEXT_FIELDS:
            if isinstance(fields.get(name), str):
                fields[name] = adf(fields[name])
        body["fields"] = fields
    return body


def as_v3_response(raw: bytes) -> bytes:
    """A fake response as the descriptions expect it (deviations 4 and 5)."""
    data = json.loads(_JIRA_OFFSET.sub(rb'\1:\2"', raw)) if raw else None
    return json.dumps(_without_null_change_values(data)).encode()


def _without_null_change_values(data: Any) -> Any:
    if isinstance(data, list):
        return [_without_null_change_values(v) for v in data]
    if not isinstance(data, dict):
        return data
    if "fieldtype" in data and "field" in data:  # a changelog item
        return {k: v for k, v in data.items() if not (v is None and k in _CHANGE_VALUES)}
    return {k: _without_null_change_values(v) for k, v in data.items()}


_CHANGE_VALUES = frozenset({"from", "fromString", "to", "toString"})
