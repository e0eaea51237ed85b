"""Permissions per user and project, as `GET /rest/api/2/mypermissions` reports them.

Everyone has every permission until a test takes one away:

    fake.permissions.revoke("hindsight-bot", "TRANSITION_ISSUES", project="CHG")
    fake.permissions.revoke("hindsight-bot", "USER_PICKER")  # a global permission

Jira's rules for the answer: Cloud requires the `permissions` parameter (400 without it), Data
Center answers every permission when it is absent; a project the user cannot browse answers
404; in the global context a project permission is held if it is held in any project.
"""

from __future__ import annotations

from collections.abc import Iterable

# key -> (id, name) as Jira names them
PROJECT = {
    "BROWSE_PROJECTS": ("10", "Browse Projects"),
    "CREATE_ISSUES": ("11", "Create Issues"),
    "EDIT_ISSUES": ("12", "Edit Issues"),
    "ASSIGN_ISSUES": ("13", "Assign Issues"),
    "RESOLVE_ISSUES": ("14", "Resolve Issues"),
    "ADD_COMMENTS": ("15", "Add Comments"),
    "DELETE_ISSUES": ("16", "Delete Issues"),
    "ASSIGNABLE_USER": ("17", "Assignable User"),
    "CLOSE_ISSUES": ("18", "Close Issues"),
    "LINK_ISSUES": ("21", "Link Issues"),
    "ADMINISTER_PROJECTS": ("23", "Administer Projects"),
    "SCHEDULE_ISSUES": ("28", "Schedule Issues"),
    "MODIFY_REPORTER": ("30", "Modify Reporter"),
    "EDIT_ALL_COMMENTS": ("34", "Edit All Comments"),
    "EDIT_OWN_COMMENTS": ("35", "Edit Own Comments"),
    "TRANSITION_ISSUES": ("46", "Transition Issues"),
}
GLOBAL = {
    "ADMINISTER": ("0", "Administer Jira"),
    "USER_PICKER": ("27", "Browse users and groups"),
    "BULK_CHANGE": ("33", "Bulk Change"),
}


class Permissions:
    """Revoked grants: (user name, permission key, project key or None for every project)."""

    def __init__(self) -> None:
        self._revoked: set[tuple[str, str, str | None]] = set()

    def revoke(self, user: str, key: str, *, project: str | None = None) -> None:
        """Take `key` from `user` in `project` (every project when None; global keys ignore it)."""
        if key not in PROJECT and key not in GLOBAL:
            raise KeyError(f"unknown permission {key!r}; known: {sorted({**PROJECT, **GLOBAL})}")
        self._revoked.add((user, key, None if key in GLOBAL else project))

    def grant(self, user: str, key: str, *, project: str | None = None) -> None:
        self._revoked.discard((user, key, None if key in GLOBAL else project))

    def has(self, user: str, key: str, project: str | None, projects: Iterable[str]) -> bool:
        """Whether `user` holds `key` in `project` (None: the global context, i.e. in any
        of `projects` for a project permission)."""
        if key in GLOBAL:
            return (user, key, None) not in self._revoked
        if (user, key, None) in self._revoked:
            return False
        if project is None:
            return any((user, key, p) not in self._revoked for p in projects)
        return (user, key, project) not in self._revoked

    def report(
        self, user: str, keys: Iterable[str], project: str | None, projects: Iterable[str]
    ) -> dict:
        """The body of `GET /mypermissions`: each key with `havePermission`."""
        projects = list(projects)
        body: dict[str, dict] = {}
        for key in keys:
            kind, (pid, name) = (
                ("GLOBAL", GLOBAL[key]) if key in GLOBAL else ("PROJECT", PROJECT[key])
            )
            body[key] = {
                "id": pid,
                "key": key,
                "name": name,
                "type": kind,
                "description": f"Ability to {name.lower()}.",
                "havePermission": self.has(user, key, project, projects),
            }
        return {"permissions": body}


def known(key: str) -> bool:
    return key in PROJECT or key in GLOBAL


ALL_KEYS = (*PROJECT, *GLOBAL)
