"""Users as each deployment names them: Cloud by accountId, Data Center by username."""

from __future__ import annotations

from plugin.jira.adapter.transport import API, JiraTransport
from plugin.jira.errors import JiraApiError
from plugin.jira.port import User


def user_groups(transport: JiraTransport, user: User) -> frozenset[str]:
    """Cloud: `GET /user/groups?accountId=` (needs the *Browse users and groups* global
    permission). Data Center has no `/user/groups`: `GET /user?username=&expand=groups`."""
    if transport.deployment() == "cloud":
        if not user.account_id:
            raise JiraApiError(
                "GET",
                f"{API}/user/groups",
                400,
                f"Jira Cloud names users by accountId, and {user.display_name or user.ref!r} "
                "has none",
            )
        raw = transport.rest("GET", "user/groups", params={"accountId": user.account_id})
        return frozenset(str(g["name"]) for g in raw or () if g.get("name"))
    if not (user.name or user.key):
        raise JiraApiError(
            "GET",
            f"{API}/user",
            400,
            f"Jira Data Center names users by username, and {user.display_name or user.ref!r} "
            "has none",
        )
    who = {"username": user.name} if user.name else {"key": user.key}
    raw = transport.rest("GET", "user", params={**who, "expand": "groups"})
    items = ((raw or {}).get("groups") or {}).get("items") or ()
    return frozenset(str(g["name"]) for g in items if g.get("name"))


def user_ref(transport: JiraTransport, user: User) -> dict[str, str]:
    """How a field value names `user` (e.g. an assignee) on this deployment."""
    if transport.deployment() == "cloud" and user.account_id:
        return {"accountId": user.account_id}
    return {"name": user.name or user.key or user.ref}
