"""`JiraAdapter`: the JiraPort over the `jira` library (REST v2, Cloud or Data Center).

The adapter is this facade over one module per job: `transport` (every request, its errors
and retries, and whether the site is Cloud or Data Center), `issues` (an issue with its whole
changelog and comments), `comments` (our markers in an entity property), `screens`
(transition, create and edit screens), `fields` (names to ids), `search` and `users`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import urlparse

from jira import JIRA

from plugin.jira.adapter import issues, screens, search, users
from plugin.jira.adapter.comments import comment_body
from plugin.jira.adapter.fields import FieldCatalog
from plugin.jira.adapter.transport import API, JiraTransport, Sleep
from plugin.jira.errors import JiraApiError, JiraNotConfigured
from plugin.jira.parse import (
    comment_from_json,
    issuetype_from_json,
    status_from_json,
    user_from_json,
)
from plugin.jira.port import (
    Comment,
    FieldInfo,
    Identity,
    Issue,
    IssueRef,
    IssueType,
    Project,
    ScreenField,
    ServerInfo,
    Status,
    Transition,
    User,
)

__all__ = ["JiraAdapter", "connect"]


class JiraAdapter:
    """The real JiraPort. Build it with `connect(...)`; tests pass a fake clock as `sleep`."""

    def __init__(
        self,
        client: JIRA,
        *,
        max_retries: int = 3,
        max_retry_delay: float = 60.0,
        sleep: Sleep = time.sleep,
        timeout: float | None = None,
    ) -> None:
        self._jira = JiraTransport(
            client,
            max_retries=max_retries,
            max_retry_delay=max_retry_delay,
            sleep=sleep,
            timeout=timeout,
        )
        self._fields = FieldCatalog(self._jira)
        self._create_screens = screens.CreateScreens()
        self._lock = threading.Lock()
        self._identity: User | None = None
        self._subtask_types: dict[str, IssueType] = {}

    def __repr__(self) -> str:  # never shows credentials
        return f"JiraAdapter({self._jira.base!r})"

    # ---------------------------------------------------------------- reads

    def get_issue(self, key: str) -> Issue:
        return issues.read_issue(self._jira, key, self._me)

    def get_transitions(self, key: str) -> list[Transition]:
        return screens.transitions(self._jira, key)

    def subtask_type(self, project_key: str) -> IssueType:
        """The project's sub-task type, by its `subtask` flag (its name varies by site)."""
        with self._lock:
            cached = self._subtask_types.get(project_key)
        if cached is not None:
            return cached
        project = self.get_project(project_key)
        found = next((t for t in project.issue_types if t.subtask), None)
        if found is None:
            raise JiraApiError(
                "POST",
                f"{API}/issue",
                400,
                f"project {project_key} has no sub-task issue type: a Jira admin must enable "
                "sub-tasks and add one to the project's issue type scheme",
            )
        with self._lock:
            self._subtask_types[project_key] = found
        return found

    def create_screen(self, project_key: str, issuetype_id: str) -> dict[str, ScreenField]:
        """Create meta for one project and issue type (see `screens.CreateScreens`)."""
        return self._create_screens.get(self._jira, project_key, issuetype_id)

    def edit_screen(self, key: str) -> dict[str, ScreenField]:
        """Edit meta: the fields the service account may set on `key` in its current status."""
        return screens.edit_screen(self._jira, key)

    def search(self, jql: str, *, page_size: int = 50) -> Iterator[Issue]:
        return search.search(self._jira, jql, page_size)

    def get_project(self, key: str) -> Project:
        raw = self._jira.call(
            "GET", f"{API}/project/{key}", lambda: self._jira.client.project(key).raw
        )
        return Project(
            key=str(raw.get("key", key)),
            id=str(raw.get("id", "")),
            name=str(raw.get("name", "")),
            description=str(raw.get("description") or ""),
            category=(raw.get("projectCategory") or {}).get("name"),
            project_type=raw.get("projectTypeKey"),
            issue_types=tuple(issuetype_from_json(t) for t in raw.get("issueTypes") or ()),
            lead=user_from_json(raw.get("lead")),
        )

    def field_id(self, name_or_id: str) -> str:
        return self._fields.field_id(name_or_id)

    def user_groups(self, user: User) -> frozenset[str]:
        """The names of the groups `user` is in (see `users.user_groups`)."""
        return users.user_groups(self._jira, user)

    # ------------------------------------------- checks of the site (`hindsight doctor`)

    def server_info(self) -> ServerInfo:
        info = self._jira.server_info()
        return ServerInfo(
            deployment=self._jira.deployment(),
            version=str(info.get("version") or ""),
            base_url=str(info.get("baseUrl") or ""),
            title=str(info.get("serverTitle") or ""),
        )

    def my_permissions(
        self, keys: Iterable[str], project_key: str | None = None
    ) -> dict[str, bool]:
        """Whether the service account holds each permission key (Jira's own names), in
        `project_key` or, without one, in any project. Cloud requires `permissions`; Data
        Center answers every permission, so the answer is read key by key either way."""
        wanted = list(dict.fromkeys(keys))
        params = {"permissions": ",".join(wanted)}
        if project_key:
            params["projectKey"] = project_key
        raw = self._jira.rest("GET", "mypermissions", params=params) or {}
        held = raw.get("permissions") or {}
        return {key: bool((held.get(key) or {}).get("havePermission")) for key in wanted}

    def describe_field(self, name_or_id: str) -> FieldInfo:
        """A field's id, name and schema type (KeyError when Jira has no such field)."""
        return self._fields.describe(name_or_id)

    def project_statuses(self, key: str) -> dict[str, tuple[Status, ...]]:
        """Each issue type's statuses in project `key` (`GET /project/{key}/statuses`)."""
        raw = self._jira.rest("GET", f"project/{key}/statuses") or []
        return {
            str(entry.get("name")): tuple(status_from_json(s) for s in entry.get("statuses") or ())
            for entry in raw
            if isinstance(entry, Mapping)
        }

    def myself(self) -> Identity:
        raw = self._jira.call("GET", f"{API}/myself", self._jira.client.myself)
        user = user_from_json(raw)
        if user is None:
            raise JiraApiError("GET", f"{API}/myself", 200, "Jira answered without a user")
        with self._lock:
            self._identity = user
        return Identity(user=user, deployment=self._jira.deployment())

    def _me(self) -> User:
        """The service account, asked once (it does not change while the process runs)."""
        with self._lock:
            known = self._identity
        return known if known is not None else self.myself().user

    # --------------------------------------------------------------- writes

    def transition_issue(
        self, key: str, transition_id: str, fields: Mapping[str, Any] | None = None
    ) -> None:
        """Send exactly `fields`: check them against `Transition.fields` first (see
        `plugin.jira.transitions.fields_for_screen`); Jira refuses any field not on the screen."""
        path = f"{API}/issue/{key}/transitions"
        client = self._jira.client
        self._jira.call(
            "POST",
            path,
            lambda: client.transition_issue(key, str(transition_id), fields=dict(fields or {})),
        )

    def add_comment(self, key: str, body: str, *, markers: Sequence[str] = ()) -> Comment:
        # through the library's session: its add_comment sends no entity properties
        raw = self._jira.rest("POST", f"issue/{key}/comment", body=comment_body(body, markers))
        return replace(comment_from_json(raw or {}), markers=tuple(markers))

    def edit_comment(
        self, key: str, comment_id: str, body: str, *, markers: Sequence[str] = ()
    ) -> None:
        path = f"issue/{key}/comment/{comment_id}"
        self._jira.rest("PUT", path, body=comment_body(body, markers))

    def create_subtask(
        self,
        parent_key: str,
        summary: str,
        description: str = "",
        *,
        assignee: User | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> IssueRef:
        parent = self._jira.call(
            "GET",
            f"{API}/issue/{parent_key}",
            lambda: self._jira.client.issue(parent_key, fields="project").raw,
        )
        project_key = str(((parent.get("fields") or {}).get("project") or {}).get("key", ""))
        subtask_type = self.subtask_type(project_key)
        payload: dict[str, Any] = {
            "project": {"key": project_key},
            "parent": {"key": parent_key},
            "issuetype": {"id": subtask_type.id},
            "summary": summary,
        }
        if description:
            payload["description"] = description
        if assignee is not None:
            payload["assignee"] = users.user_ref(self._jira, assignee)
        payload.update(self._fields.by_id(fields or {}))
        return self._create(payload, summary, subtask_type)

    def create_issue(
        self,
        project_key: str,
        issuetype: str,
        summary: str,
        description: str = "",
        *,
        fields: Mapping[str, Any] | None = None,
    ) -> IssueRef:
        project = self.get_project(project_key)
        wanted = issuetype.strip().lower()
        chosen = next(
            (t for t in project.issue_types if t.id == issuetype or t.name.lower() == wanted),
            None,
        )
        if chosen is None:
            names = ", ".join(t.name for t in project.issue_types) or "none"
            raise JiraApiError(
                "POST",
                f"{API}/issue",
                400,
                f"project {project_key} has no issue type {issuetype!r} (it has: {names})",
            )
        payload: dict[str, Any] = {
            "project": {"key": project.key},
            "issuetype": {"id": chosen.id},
            "summary": summary,
        }
        if description:
            payload["description"] = description
        payload.update(self._fields.by_id(fields or {}))
        return self._create(payload, summary, chosen)

    def add_labels(self, key: str, labels: Iterable[str]) -> None:
        self._update_labels(key, "add", labels)

    def remove_labels(self, key: str, labels: Iterable[str]) -> None:
        self._update_labels(key, "remove", labels)

    def set_fields(self, key: str, fields: Mapping[str, Any]) -> None:
        if fields:
            self._jira.rest("PUT", f"issue/{key}", body={"fields": self._fields.by_id(fields)})

    # ------------------------------------------------------------ internals

    def _me(self) -> User:
        """The service account, asked once (it does not change while the process runs)."""
        with self._lock:
            known = self._identity
        return known if known is not None else self.myself().user

    def _update_labels(self, key: str, verb: str, labels: Iterable[str]) -> None:
        operations = [{verb: label} for label in dict.fromkeys(labels)]
        if operations:  # `update` ops never replace the labels others set
            self._jira.rest("PUT", f"issue/{key}", body={"update": {"labels": operations}})

    def _create(self, payload: dict[str, Any], summary: str, issuetype: IssueType) -> IssueRef:
        client = self._jira.client
        created = self._jira.call(
            "POST",
            f"{API}/issue",
            lambda: client.create_issue(fields=payload, prefetch=False).raw,
        )
        return IssueRef(
            key=str(created["key"]),
            id=str(created.get("id", "")),
            summary=summary,
            issuetype=issuetype,
        )


def connect(
    url: str,
    *,
    email: str | None = None,
    api_token: str | None = None,
    pat: str | None = None,
    timeout: float = 10.0,
    max_retries: int = 3,
    max_retry_delay: float = 60.0,
    sleep: Sleep = time.sleep,
) -> JiraAdapter:
    """An adapter for the Jira at `url`: Cloud with `email` + `api_token`, or Data Center
    with a personal access token `pat`. Makes no request: Cloud or DC is read from
    `serverInfo` on first need."""
    parsed = urlparse(url or "")
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise JiraNotConfigured(
            f"the Jira URL {url!r} is not an http(s) URL: set it to your site, "
            "e.g. https://example.atlassian.net"
        )
    if pat and (email or api_token):
        raise JiraNotConfigured(
            "give either an email and API token (Cloud) or a personal access token (Data "
            "Center), not both"
        )
    if not pat and not (email and api_token):
        raise JiraNotConfigured(
            "Jira credentials are missing: set the service account's email and API token "
            "(Cloud) or its personal access token (Data Center)"
        )
    auth: dict[str, Any] = {"token_auth": pat} if pat else {"basic_auth": (email, api_token)}
    client = JIRA(
        server=url.rstrip("/"),
        options={"rest_api_version": "2", "check_update": False},
        get_server_info=False,
        max_retries=0,
        timeout=timeout,
        **auth,
    )
    return JiraAdapter(
        client,
        max_retries=max_retries,
        max_retry_delay=max_retry_delay,
        sleep=sleep,
        timeout=timeout,
    )
