"""Create and edit screens per project and issue type, and what they let a caller set.

Jira decides through screen schemes (and permissions) which fields a create or an edit may
set: create meta and edit meta list them, and a write naming any other field is refused with
"Field 'x' cannot be set. It is not on the appropriate screen, or unknown." (the whole create
fails). By default every settable field is on both screens, a generously configured site;
tests take fields off:

    fake.screens.hide("CHG", "Sous-tâche", "duedate", "assignee", screen="create")
    fake.screens.hide("CHG", "Change", "customfield_10021", screen="edit")

Permissions narrow screens as in Jira: without Edit Issues nothing is editable, the assignee
needs Assign Issues and the due date Schedule Issues (`testkit.fakejira.permissions`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

Screen = Literal["create", "edit"]
NOT_ON_SCREEN = "Field '{}' cannot be set. It is not on the appropriate screen, or unknown."
# system fields a caller may set on either screen (custom fields are settable unless hidden)
SETTABLE_SYSTEM = (
    "summary",
    "description",
    "labels",
    "priority",
    "duedate",
    "components",
    "assignee",
)
# what a create names besides the screen's fields: always accepted, as Jira does
CREATE_CONTEXT = ("project", "issuetype", "parent", "reporter")
# fields a permission gates, on both screens
GATED_BY = {"assignee": "ASSIGN_ISSUES", "duedate": "SCHEDULE_ISSUES"}


class Screens:
    """Which fields are off which screen: (project key, issue type name, screen) -> field ids."""

    def __init__(self) -> None:
        self._hidden: dict[tuple[str, str, Screen], set[str]] = {}

    def hide(self, project: str, issuetype: str, *field_ids: str, screen: Screen) -> None:
        """Take `field_ids` off the `screen` of `issuetype` in `project`."""
        self._hidden.setdefault((project, issuetype, screen), set()).update(field_ids)

    def show(self, project: str, issuetype: str, *field_ids: str, screen: Screen) -> None:
        """Put hidden fields back."""
        self._hidden.get((project, issuetype, screen), set()).difference_update(field_ids)

    def hidden(self, project: str, issuetype: str, screen: Screen) -> set[str]:
        return set(self._hidden.get((project, issuetype, screen), ()))


def field_meta(field_id: str, name: str, schema: dict[str, Any] | None, *, create: bool) -> dict:
    """One field as create meta (a list item with `fieldId`) or edit meta describes it."""
    meta: dict[str, Any] = {
        "required": field_id in ("summary", "project", "issuetype", "parent"),
        "schema": dict(schema or {"type": "string"}),
        "name": name,
        "key": field_id,
        "hasDefaultValue": False,
        "operations": ["set", "add", "remove"] if field_id == "labels" else ["set"],
    }
    if create:
        meta["fieldId"] = field_id
    return meta


def page(items: Iterable[dict[str, Any]], start: int, limit: int, *, cloud: bool) -> dict:
    """A create meta page: Cloud lists the items under `fields`, Data Center under `values`."""
    everything = list(items)
    chosen = everything[start : start + limit]
    body: dict[str, Any] = {"startAt": start, "maxResults": limit, "total": len(everything)}
    if cloud:
        body["fields"] = chosen
    else:
        body["isLast"] = start + len(chosen) >= len(everything)
        body["values"] = chosen
    return body
