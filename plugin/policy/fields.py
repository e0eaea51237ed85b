"""Reading issue fields the way a policy names them: by name or id, values compared as text.

Jira returns a select as `{"value": "Approved"}`, a user as `{"displayName": ...}`, a multi-select
as a list, a number as a number; the policy compares them all as text, case-blind.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from plugin.jira.errors import JiraNotConfigured
from plugin.jira.port import Issue, JiraPort, User

# System fields the policy may name that Issue exposes as attributes, with their Jira ids.
_SYSTEM_NAMES = {
    "summary": "summary",
    "description": "description",
    "priority": "priority",
    "labels": "labels",
    "components": "components",
    "resolution": "resolution",
    "assignee": "assignee",
    "reporter": "reporter",
    "due date": "duedate",
    "duedate": "duedate",
    "status": "status",
    "issue type": "issuetype",
    "issuetype": "issuetype",
}
_LEADING_NUMBER = re.compile(r"^\s*(-?\d+(?:\.\d+)?)")


class UnknownField(LookupError):
    """The policy names a field Jira does not have: fix the name or use its id."""

    def __init__(self, name: str, message: str | None = None) -> None:
        self.name = name
        super().__init__(
            message
            or f"field '{name}' is not known to Jira; check its name in the policy or use its id "
            "(customfield_NNNNN)"
        )


class FieldResolver:
    """Resolves policy field names to Jira ids once per name (JiraPort.field_id may call Jira)."""

    def __init__(
        self, jira: JiraPort, aliases: Mapping[str, str] | None = None, *, offline: bool = False
    ) -> None:
        self._jira = jira
        self.offline = offline  # Jira unreachable: only the event's snapshot is known
        self._cache: dict[str, str] = {}
        self._names = dict(aliases or {})
        self._aliases = {name.casefold(): field_id for name, field_id in self._names.items()}

    def id_of(self, name_or_id: str) -> str:
        if name_or_id in self._cache:
            return self._cache[name_or_id]
        known = self._aliases.get(name_or_id.casefold()) or _SYSTEM_NAMES.get(name_or_id.casefold())
        if known is not None:
            resolved = known
        elif name_or_id.startswith("customfield_"):
            resolved = name_or_id
        else:
            try:
                resolved = self._jira.field_id(name_or_id)
            except (KeyError, JiraNotConfigured) as exc:
                if isinstance(exc, KeyError) and not self.offline:
                    raise UnknownField(name_or_id) from None
                raise UnknownField(
                    name_or_id,
                    f"field '{name_or_id}' cannot be resolved without Jira; map it to its id "
                    "under 'fields:' in the policy, or name it by id",
                ) from None
        self._cache[name_or_id] = resolved
        return resolved

    def display(self, name_or_id: str) -> str:
        """The name to show people: a field named by id shows its `fields:` name if mapped."""
        for name, field_id in self._names.items():
            if field_id == name_or_id:
                return name
        return name_or_id

    def value(self, issue: Issue, name_or_id: str) -> Any:
        """The raw value of the field on `issue` (None when absent)."""
        field_id = self.id_of(name_or_id)
        if field_id == "labels":
            return list(issue.labels)
        if field_id == "components":
            return list(issue.components)
        if field_id == "priority":
            return issue.priority
        if field_id == "status":
            return issue.status.name
        if field_id == "issuetype":
            return issue.issuetype.name
        return issue.fields.get(field_id)


def texts(value: Any) -> list[str]:
    """Every value as text: selects by value/name, users by name, lists flattened."""
    if value is None:
        return []
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, int | float):
        return [f"{value:g}"]
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, User):
        return [value.display_name or value.ref]
    if isinstance(value, Mapping):
        for key in ("value", "name", "displayName", "key", "accountId"):
            if value.get(key) not in (None, ""):
                return [str(value[key])]
        return []
    if isinstance(value, list | tuple):
        return [text for item in value for text in texts(item)]
    return [str(value)]


def is_filled(value: Any) -> bool:
    return bool(texts(value))


def matches_any(value: Any, allowed: tuple[str, ...]) -> bool:
    wanted = {a.casefold() for a in allowed}
    return any(t.casefold() in wanted for t in texts(value))


def number(value: Any) -> float | None:
    """A numeric reading of a field: 12, "12", {"value": "4 - Likely"} -> 4. None if none."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    for text in texts(value):
        match = _LEADING_NUMBER.match(text)
        if match:
            return float(match.group(1))
    return None


def user_in(value: Any) -> User | None:
    """A user held by a user-picker field value (REST JSON or a User)."""
    if isinstance(value, User):
        return value
    if isinstance(value, list) and value:
        value = value[0]
    if isinstance(value, Mapping) and (value.get("accountId") or value.get("name")):
        return User(
            account_id=value.get("accountId"),
            name=value.get("name"),
            key=value.get("key"),
            display_name=str(value.get("displayName") or value.get("name") or ""),
        )
    return None


def user_label(user: User | None) -> str:
    if user is None:
        return "someone unknown"
    return user.display_name or user.ref or "someone unknown"
