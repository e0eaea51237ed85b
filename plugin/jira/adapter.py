"""`JiraAdapter`: the JiraPort over the `jira` library (REST v2, Cloud or Data Center).

Every failure surfaces as `JiraApiError("METHOD path -> HTTP status: Jira's message")`.
Retries are ours, not the library's (it is built with `max_retries=0`): the library sleeps
twice the `Retry-After`, retries connection errors for minutes and cannot be given a clock.
Here 429 and 503 are retried up to `max_retries` times, honouring `Retry-After` when it is
at most `max_retry_delay` seconds; otherwise the error surfaces at once with `retry_after` set,
so the delivery worker reschedules instead of blocking. Other 4xx are never retried. Timeouts
and connection failures are not retried here either (a write may have been applied): they
surface as `JiraApiError(status=None)`, which is `retryable`, and the worker re-reads state.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import quote, urlparse

import requests
from jira import JIRA, JIRAError

from plugin.jira.errors import JiraApiError, JiraNotConfigured
from plugin.jira.parse import (
    comment_from_json,
    issue_from_json,
    issuetype_from_json,
    status_from_json,
    user_from_json,
)
from plugin.jira.port import (
    COMMENT_PROPERTY,
    Comment,
    Deployment,
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

T = TypeVar("T")
API = "/rest/api/2"
RETRIED_STATUSES = frozenset({429, 503})
CHANGELOG_PAGE = 100  # the largest page Jira Cloud serves for /issue/{key}/changelog
META_PAGE = 100  # create meta pages (Cloud allows up to 200, Data Center defaults to 50)
SCREEN_CACHE_SIZE = 256  # (project, issue type) create screens kept
SCREEN_CACHE_SECONDS = 900.0  # a screen an admin fixed is seen within 15 minutes
Sleep = Callable[[float], None]


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
        self._client = client
        self._base = client.server_url.rstrip("/")
        self._max_retries = max_retries
        self._max_retry_delay = max_retry_delay
        self._sleep = sleep
        self._timeout = timeout
        self._lock = threading.Lock()
        self._server_info: dict[str, Any] | None = None
        self._identity: User | None = None
        self._fields: list[dict[str, Any]] | None = None
        self._subtask_types: dict[str, IssueType] = {}
        self._create_screens: OrderedDict[tuple[str, str], tuple[float, dict[str, ScreenField]]] = (
            OrderedDict()
        )

    def __repr__(self) -> str:  # never shows credentials
        return f"JiraAdapter({self._base!r})"

    # ---------------------------------------------------------------- reads

    def get_issue(self, key: str) -> Issue:
        path = f"{API}/issue/{key}"
        raw = self._call("GET", path, lambda: self._client.issue(key, expand="changelog").raw)
        raw = dict(raw)
        changelog = raw.get("changelog") or {}
        histories = list(changelog.get("histories") or ())
        missing = int(changelog.get("total") or 0) - len(histories)
        if missing > 0 and self._deployment() == "cloud":
            # Cloud embeds only the newest 100 (newest first); Data Center embeds them all
            histories = _merge_histories(self._older_histories(key, missing), histories)
        raw["changelog"] = {"histories": histories}  # `Issue` puts them oldest first
        fields = dict(raw.get("fields") or {})
        block = fields.get("comment")
        embedded = list(block.get("comments") or ()) if isinstance(block, Mapping) else []
        me = self._me() if embedded else None
        mine = me is not None and any(me.same_as(user_from_json(c.get("author"))) for c in embedded)
        if mine or (isinstance(block, Mapping) and int(block.get("total") or 0) > len(embedded)):
            # every comment, with entity properties: ours are found by their `hindsight` one
            fields["comment"] = {"comments": self._with_properties(self._all_comments(key), me)}
            raw["fields"] = fields
        return issue_from_json(raw, me)

    def get_transitions(self, key: str) -> list[Transition]:
        path = f"{API}/issue/{key}/transitions"
        raw = self._call(
            "GET", path, lambda: self._client.transitions(key, expand="transitions.fields")
        )
        return [_transition_from_json(t) for t in raw]

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
        """Create meta for one project and issue type, paged, kept `SCREEN_CACHE_SECONDS`.

        Cloud and Data Center 8.4+ serve `/issue/createmeta/{project}/issuetypes/{type}`
        (Cloud pages under `fields`, Data Center under `values`); the old
        `createmeta?expand=projects.issuetypes.fields` is gone from Cloud and from DC 9.
        """
        cache_key = (project_key, issuetype_id)
        now = time.monotonic()
        with self._lock:
            cached = self._create_screens.get(cache_key)
            if cached is not None and now - cached[0] < SCREEN_CACHE_SECONDS:
                self._create_screens.move_to_end(cache_key)
                return dict(cached[1])
        path = f"issue/createmeta/{project_key}/issuetypes/{issuetype_id}"
        screen: dict[str, ScreenField] = {}
        start = 0
        while True:
            page = self._rest("GET", path, params={"startAt": start, "maxResults": META_PAGE})
            page = page if isinstance(page, Mapping) else {}
            values = list(page.get("fields") or page.get("values") or page.get("results") or ())
            for spec in values:
                if isinstance(spec, Mapping):
                    field_id = str(spec.get("fieldId") or spec.get("key") or "")
                    if field_id:
                        screen[field_id] = _screen_field_from_json(field_id, spec)
            start += len(values)
            total = int(page.get("total") or 0)
            if not values or page.get("isLast") or start >= total:
                break
        with self._lock:
            self._create_screens[cache_key] = (now, screen)
            self._create_screens.move_to_end(cache_key)
            while len(self._create_screens) > SCREEN_CACHE_SIZE:
                self._create_screens.popitem(last=False)
        return dict(screen)

    def edit_screen(self, key: str) -> dict[str, ScreenField]:
        """Edit meta: the fields the service account may set on `key` in its current status."""
        raw = self._rest("GET", f"issue/{key}/editmeta")
        fields = (raw or {}).get("fields") or {}
        return {
            str(field_id): _screen_field_from_json(str(field_id), spec)
            for field_id, spec in fields.items()
            if isinstance(spec, Mapping)
        }

    def search(self, jql: str, *, page_size: int = 50) -> Iterator[Issue]:
        if self._deployment() == "cloud":
            yield from self._search_by_token(jql, page_size)
        else:
            yield from self._search_by_offset(jql, page_size)

    def get_project(self, key: str) -> Project:
        raw = self._call("GET", f"{API}/project/{key}", lambda: self._client.project(key).raw)
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
        fields = self._field_list()
        wanted = name_or_id.strip()
        if any(f.get("id") == wanted for f in fields):
            return wanted
        lowered = wanted.lower()
        matches = sorted(
            {
                str(f["id"])
                for f in fields
                if str(f.get("name", "")).lower() == lowered
                or lowered in (str(c).lower() for c in f.get("clauseNames") or ())
            }
        )
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise KeyError(
                f"field name {name_or_id!r} is ambiguous in Jira ({', '.join(matches)}): "
                "name the field by its id instead"
            )
        raise KeyError(f"Jira has no field named {name_or_id!r} (GET {API}/field)")

    def user_groups(self, user: User) -> frozenset[str]:
        """Cloud: `GET /user/groups?accountId=` (needs the *Browse users and groups* global
        permission). Data Center has no `/user/groups`: `GET /user?username=&expand=groups`."""
        if self._deployment() == "cloud":
            if not user.account_id:
                raise JiraApiError(
                    "GET",
                    f"{API}/user/groups",
                    400,
                    f"Jira Cloud names users by accountId, and {user.display_name or user.ref!r} "
                    "has none",
                )
            raw = self._rest("GET", "user/groups", params={"accountId": user.account_id})
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
        raw = self._rest("GET", "user", params={**who, "expand": "groups"})
        items = ((raw or {}).get("groups") or {}).get("items") or ()
        return frozenset(str(g["name"]) for g in items if g.get("name"))

    # ------------------------------------------- checks of the site (`hindsight doctor`)

    def server_info(self) -> ServerInfo:
        info = self._server_info_raw()
        return ServerInfo(
            deployment=self._deployment(),
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
        raw = self._rest("GET", "mypermissions", params=params) or {}
        held = raw.get("permissions") or {}
        return {key: bool((held.get(key) or {}).get("havePermission")) for key in wanted}

    def describe_field(self, name_or_id: str) -> FieldInfo:
        """A field's id, name and schema type (KeyError when Jira has no such field)."""
        field_id = self.field_id(name_or_id)
        raw = next(f for f in self._field_list() if str(f.get("id")) == field_id)
        schema = raw.get("schema") if isinstance(raw.get("schema"), Mapping) else {}
        return FieldInfo(
            id=field_id,
            name=str(raw.get("name") or field_id),
            schema_type=str(schema.get("type") or ""),
            items=str(schema.get("items") or ""),
            custom=bool(raw.get("custom")),
        )

    def project_statuses(self, key: str) -> dict[str, tuple[Status, ...]]:
        """Each issue type's statuses in project `key` (`GET /project/{key}/statuses`)."""
        raw = self._rest("GET", f"project/{key}/statuses") or []
        return {
            str(entry.get("name")): tuple(status_from_json(s) for s in entry.get("statuses") or ())
            for entry in raw
            if isinstance(entry, Mapping)
        }

    def myself(self) -> Identity:
        raw = self._call("GET", f"{API}/myself", self._client.myself)
        user = user_from_json(raw)
        if user is None:
            raise JiraApiError("GET", f"{API}/myself", 200, "Jira answered without a user")
        with self._lock:
            self._identity = user
        return Identity(user=user, deployment=self._deployment())

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
        self._call(
            "POST",
            path,
            lambda: self._client.transition_issue(
                key, str(transition_id), fields=dict(fields or {})
            ),
        )

    def add_comment(self, key: str, body: str, *, markers: Sequence[str] = ()) -> Comment:
        # through the library's session: its add_comment sends no entity properties
        raw = self._rest("POST", f"issue/{key}/comment", body=_comment_body(body, markers))
        return replace(comment_from_json(raw or {}), markers=tuple(markers))

    def edit_comment(
        self, key: str, comment_id: str, body: str, *, markers: Sequence[str] = ()
    ) -> None:
        self._rest("PUT", f"issue/{key}/comment/{comment_id}", body=_comment_body(body, markers))

    def create_subtask(
        self,
        parent_key: str,
        summary: str,
        description: str = "",
        *,
        assignee: User | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> IssueRef:
        parent = self._call(
            "GET",
            f"{API}/issue/{parent_key}",
            lambda: self._client.issue(parent_key, fields="project").raw,
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
            payload["assignee"] = self._user_ref(assignee)
        payload.update(self._by_id(fields or {}))
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
        payload.update(self._by_id(fields or {}))
        return self._create(payload, summary, chosen)

    def add_labels(self, key: str, labels: Iterable[str]) -> None:
        self._update_labels(key, "add", labels)

    def remove_labels(self, key: str, labels: Iterable[str]) -> None:
        self._update_labels(key, "remove", labels)

    def set_fields(self, key: str, fields: Mapping[str, Any]) -> None:
        if fields:
            self._rest("PUT", f"issue/{key}", body={"fields": self._by_id(fields)})

    # ------------------------------------------------------------ internals

    def _update_labels(self, key: str, verb: str, labels: Iterable[str]) -> None:
        operations = [{verb: label} for label in dict.fromkeys(labels)]
        if operations:  # `update` ops never replace the labels others set
            self._rest("PUT", f"issue/{key}", body={"update": {"labels": operations}})

    def _create(self, payload: dict[str, Any], summary: str, issuetype: IssueType) -> IssueRef:
        created = self._call(
            "POST",
            f"{API}/issue",
            lambda: self._client.create_issue(fields=payload, prefetch=False).raw,
        )
        return IssueRef(
            key=str(created["key"]),
            id=str(created.get("id", "")),
            summary=summary,
            issuetype=issuetype,
        )

    def _user_ref(self, user: User) -> dict[str, str]:
        if self._deployment() == "cloud" and user.account_id:
            return {"accountId": user.account_id}
        return {"name": user.name or user.key or user.ref}

    def _by_id(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Field names ("Change type") resolved to ids; ids and system names pass through."""
        return {self.field_id(name): value for name, value in fields.items()}

    def _field_list(self) -> list[dict[str, Any]]:
        with self._lock:
            if self._fields is not None:
                return self._fields
        fields = self._call("GET", f"{API}/field", self._client.fields)
        with self._lock:
            self._fields = list(fields)
            return self._fields

    def _deployment(self) -> Deployment:
        info = self._server_info_raw()
        return "cloud" if str(info.get("deploymentType", "")).lower() == "cloud" else "server"

    def _server_info_raw(self) -> dict[str, Any]:
        with self._lock:
            info = self._server_info
        if info is None:
            info = self._call("GET", f"{API}/serverInfo", self._client.server_info)
            with self._lock:
                self._server_info = info
        return info

    def _older_histories(self, key: str, missing: int) -> list[dict[str, Any]]:
        """The `missing` oldest histories, from Cloud's `/issue/{key}/changelog` (oldest first;
        Data Center has no such resource)."""
        histories: list[dict[str, Any]] = []
        while len(histories) < missing:
            page = self._rest(
                "GET",
                f"issue/{key}/changelog",
                params={"startAt": len(histories), "maxResults": CHANGELOG_PAGE},
            )
            values = list(page.get("values") or ())
            histories.extend(values)
            if page.get("isLast", True) or not values:
                break
        return histories

    def _all_comments(self, key: str) -> list[dict[str, Any]]:
        comments: list[dict[str, Any]] = []
        while True:
            params = {"startAt": len(comments), "maxResults": 100, "expand": "properties"}
            page = self._rest("GET", f"issue/{key}/comment", params=params)
            values = list(page.get("comments") or ())
            comments.extend(values)
            if not values or len(comments) >= int(page.get("total") or 0):
                return comments

    def _with_properties(
        self, comments: list[dict[str, Any]], me: User | None
    ) -> list[dict[str, Any]]:
        """Our comments with their `hindsight` property, asked for one by one when the listing
        left properties out (Cloud's reference lists only `renderedBody` for `expand`)."""
        if me is None:
            return comments
        completed = []
        for comment in comments:
            if "properties" not in comment and me.same_as(user_from_json(comment.get("author"))):
                comment = {**comment, "properties": self._comment_property(str(comment["id"]))}
            completed.append(comment)
        return completed

    def _comment_property(self, comment_id: str) -> list[dict[str, Any]]:
        try:
            found = self._rest("GET", f"comment/{comment_id}/properties/{COMMENT_PROPERTY}")
        except JiraApiError as exc:
            if exc.status == 404:  # no such property: a comment from before it
                return []
            raise
        return [found] if isinstance(found, Mapping) else []

    def _search_by_token(self, jql: str, page_size: int) -> Iterator[Issue]:
        token: str | None = None
        while True:
            params: dict[str, Any] = {"jql": jql, "maxResults": page_size, "fields": "*all"}
            if token:
                params["nextPageToken"] = token
            page = self._rest("GET", "search/jql", params=params)
            for raw in page.get("issues") or ():
                yield issue_from_json(raw)
            token = page.get("nextPageToken")
            if not token or page.get("isLast"):
                return

    def _search_by_offset(self, jql: str, page_size: int) -> Iterator[Issue]:
        start = 0
        while True:
            params = {"jql": jql, "startAt": start, "maxResults": page_size, "fields": "*all"}
            page = self._rest("GET", "search", params=params)
            issues = list(page.get("issues") or ())
            for raw in issues:
                yield issue_from_json(raw)
            start += len(issues)
            if not issues or start >= int(page.get("total") or 0):
                return

    def _rest(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
    ) -> Any:
        """A REST v2 call the library has no one-request method for, on its own session."""
        url = f"{self._base}{API}/{quote(path, safe='/')}"
        data = None if body is None else json.dumps(body)

        def send() -> Any:
            # the library offers no public raw request; `_session` is its authenticated
            # ResilientSession (auth, headers, TLS settings, error raising) in every 3.x
            response = self._client._session.request(method, url, params=params, data=data)
            return response.json() if response.content else None

        return self._call(method, f"{API}/{path}", send)

    def _call(self, method: str, path: str, action: Callable[[], T]) -> T:
        attempt = 0
        while True:
            try:
                return action()
            except JIRAError as exc:
                error = _api_error(method, path, exc)
            except requests.Timeout as exc:
                raise JiraApiError(
                    method, path, None, f"no answer within {self._timeout}s ({type(exc).__name__})"
                ) from exc
            except requests.RequestException as exc:
                raise JiraApiError(method, path, None, f"{type(exc).__name__}: {exc}") from exc
            if error.status not in RETRIED_STATUSES or attempt >= self._max_retries:
                raise error
            delay = (
                error.retry_after
                if error.retry_after is not None
                else min(self._max_retry_delay, 2.0**attempt)
            )
            if delay > self._max_retry_delay:
                raise error  # too long to wait in a worker: let the caller reschedule
            attempt += 1
            self._sleep(delay)


def _comment_body(body: str, markers: Sequence[str]) -> dict[str, Any]:
    """A comment's JSON; `markers` go into the `hindsight` entity property (set on create and
    on update, as both OpenAPI descriptions allow), which people neither see nor edit."""
    sent: dict[str, Any] = {"body": body}
    if markers:
        value = {"markers": list(dict.fromkeys(markers))}
        sent["properties"] = [{"key": COMMENT_PROPERTY, "value": value}]
    return sent


def _merge_histories(*pages: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Histories from several reads, each once (by id; a later page's copy wins)."""
    merged: dict[str, dict[str, Any]] = {}
    for page in pages:
        for history in page:
            merged[str(history.get("id", ""))] = dict(history)
    return list(merged.values())


def _api_error(method: str, path: str, exc: JIRAError) -> JiraApiError:
    response = getattr(exc, "response", None)
    status = exc.status_code if exc.status_code is not None else None
    retry_after = None
    if response is not None:
        retry_after = _retry_after(response.headers.get("Retry-After"))
        message = _jira_message(response)
    else:
        message = str(exc.text or "no response body")
    return JiraApiError(method, path, status, message, retry_after=retry_after)


def _jira_message(response: requests.Response) -> str:
    """Jira's own words: `errorMessages` and `errors` (field: message), else the raw text."""
    try:
        data = response.json()
    except ValueError:
        text = (response.text or "").strip()
        return text[:300] or response.reason or "no message"
    parts: list[str] = []
    if isinstance(data, Mapping):
        messages = data.get("errorMessages") or []
        parts.extend(str(m) for m in (messages if isinstance(messages, list) else [messages]))
        errors = data.get("errors")
        if isinstance(errors, Mapping):
            parts.extend(f"{field}: {text}" for field, text in errors.items())
        for single in ("message", "errorMessage"):
            if not parts and data.get(single):
                parts.append(str(data[single]))
    return "; ".join(parts) or response.reason or "no message"


def _retry_after(value: str | None) -> float | None:
    """`Retry-After` as seconds: an integer or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def _screen_field_from_json(field_id: str, spec: Mapping[str, Any]) -> ScreenField:
    """One field of a transition, create or edit screen as Jira describes it."""
    allowed = tuple(
        str(v.get("name") or v.get("value") or v.get("id"))
        for v in spec.get("allowedValues") or ()
        if isinstance(v, Mapping)
    )
    schema = spec.get("schema")
    return ScreenField(
        id=field_id,
        name=str(spec.get("name") or field_id),
        required=bool(spec.get("required")),
        allowed_values=allowed,
        schema_type=str(schema.get("type") or "") if isinstance(schema, Mapping) else "",
    )


def _transition_from_json(raw: Mapping[str, Any]) -> Transition:
    fields = {
        str(field_id): _screen_field_from_json(str(field_id), spec)
        for field_id, spec in (raw.get("fields") or {}).items()
        if isinstance(spec, Mapping)
    }
    return Transition(
        id=str(raw.get("id", "")),
        name=str(raw.get("name", "")),
        to=status_from_json(raw.get("to")),
        fields=fields,
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
