"""The fake's REST API v2 as a WSGI app: auth, validation, fault injection, then the handler.

Each request is checked against Atlassian's OpenAPI description first (when a validator is
set); a request the description does not allow is recorded in `fake.violations` and answered
400, so the test fails twice over (the call errors, and the fixture fails at teardown).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from testkit.fakejira import permissions, screens
from testkit.fakejira.fake import FakeJira, JiraRestError, RecordedRequest, not_found
from testkit.fakejira.jql import JqlContext, JqlError, compile_jql
from testkit.fakejira.model import FakeIssue, FakeUser

API = "/rest/api/2"
_ROUTES = Map(
    [
        Rule(f"{API}/serverInfo", endpoint="server_info", methods=["GET"]),
        Rule(f"{API}/myself", endpoint="myself", methods=["GET"]),
        Rule(f"{API}/field", endpoint="fields", methods=["GET"]),
        Rule(f"{API}/project/<key>", endpoint="project", methods=["GET"]),
        Rule(f"{API}/issue", endpoint="create_issue", methods=["POST"]),
        Rule(f"{API}/issue/<key>", endpoint="get_issue", methods=["GET"]),
        Rule(f"{API}/issue/<key>", endpoint="edit_issue", methods=["PUT"]),
        Rule(f"{API}/issue/<key>/changelog", endpoint="changelog", methods=["GET"]),
        Rule(f"{API}/issue/<key>/transitions", endpoint="transitions", methods=["GET"]),
        Rule(f"{API}/issue/<key>/transitions", endpoint="do_transition", methods=["POST"]),
        Rule(f"{API}/issue/<key>/comment", endpoint="comments", methods=["GET"]),
        Rule(f"{API}/issue/<key>/comment", endpoint="add_comment", methods=["POST"]),
        Rule(f"{API}/issue/<key>/comment/<comment_id>", endpoint="comment", methods=["GET"]),
        Rule(f"{API}/issue/<key>/comment/<comment_id>", endpoint="edit_comment", methods=["PUT"]),
        Rule(
            f"{API}/comment/<comment_id>/properties/<property_key>",
            endpoint="comment_property",
            methods=["GET"],
        ),
        Rule(f"{API}/search", endpoint="search", methods=["GET", "POST"]),
        Rule(f"{API}/search/jql", endpoint="search_jql", methods=["GET", "POST"]),
        Rule(f"{API}/user", endpoint="user", methods=["GET"]),
        Rule(f"{API}/user/groups", endpoint="user_groups", methods=["GET"]),
        Rule(f"{API}/mypermissions", endpoint="my_permissions", methods=["GET"]),
        Rule(f"{API}/project/<key>/statuses", endpoint="project_statuses", methods=["GET"]),
        Rule(f"{API}/issue/<key>/editmeta", endpoint="edit_meta", methods=["GET"]),
        Rule(
            f"{API}/issue/createmeta/<project>/issuetypes/<issuetype>",
            endpoint="create_meta",
            methods=["GET"],
        ),
    ]
)


class FakeJiraApp:
    """WSGI callable serving `fake`'s state."""

    def __init__(self, fake: FakeJira) -> None:
        self.fake = fake

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Any:
        request = Request(environ)
        response = self.handle(request)
        return response(environ, start_response)

    def handle(self, request: Request) -> Response:
        fake = self.fake
        body = _json_body(request)
        user = self._authenticate(request)
        status = 500
        try:
            if body is _INVALID_JSON:
                raise JiraRestError(400, ["Unexpected character: the body is not valid JSON."])
            absent = _absent_resource(fake.flavour, request.method, request.path)
            if absent is not None:
                raise absent
            if fake.validator is not None:
                problems = fake.validator.check(request, flavour=fake.flavour)
                if problems:
                    with fake.lock:
                        fake.violations.extend(
                            f"{request.method} {request.full_path.rstrip('?')}: {p}"
                            for p in problems
                        )
                    raise JiraRestError(
                        400, [f"Not allowed by the Jira API description: {p}" for p in problems]
                    )
            if user is None:
                raise JiraRestError(401, ["Client must be authenticated to access this resource."])
            fault = fake.take_fault(request.method, request.path)
            if fault is not None and fault.delay and fake.stopping.wait(fault.delay):
                raise JiraRestError(503, ["The fake Jira is shutting down."])
            if fault is not None and fault.status is not None:
                status = fault.status
                response = _json(fault.response_body(), status)
                if fault.retry_after is not None:
                    response.headers["Retry-After"] = str(fault.retry_after)
                return response
            adapter = _ROUTES.bind_to_environ(request.environ)
            try:
                endpoint, args = adapter.match()
            except HTTPException as exc:
                with fake.lock:
                    fake.violations.append(
                        f"{request.method} {request.path}: the fake does not implement this call"
                    )
                raise JiraRestError(
                    exc.code or 404, ["No such REST resource in the fake."]
                ) from exc
            handler = getattr(self, f"on_{endpoint}")
            with fake.lock:
                result = handler(request, user, body, **args)
            status = 204 if result is None else (201 if request.method == "POST" else 200)
            if isinstance(result, tuple):
                result, status = result
            return Response(status=204) if result is None else _json(result, status)
        except JiraRestError as error:
            status = error.status
            return _json(error.body, error.status)
        finally:
            with fake.lock:
                fake.requests.append(
                    RecordedRequest(
                        request.method,
                        request.path,
                        {k: request.args.getlist(k) for k in request.args},
                        None if body is _INVALID_JSON else body,
                        user.name if user else None,
                        status,
                    )
                )

    def _authenticate(self, request: Request) -> FakeUser | None:
        header = request.headers.get("Authorization", "")
        scheme, _, credential = header.partition(" ")
        for user in self.fake.users.values():
            if scheme.lower() == "bearer" and user.pat and credential == user.pat:
                return user
            if scheme.lower() == "basic" and user.api_token:
                try:
                    login, _, secret = base64.b64decode(credential).decode().partition(":")
                except ValueError:
                    return None
                if login in (user.email, user.name) and secret == user.api_token:
                    return user
        return None

    # ------------------------------------------------------------------ handlers

    def on_server_info(self, request: Request, user: FakeUser, body: Any) -> dict[str, Any]:
        cloud = self.fake.flavour == "cloud"
        return {
            "baseUrl": self.fake.base_url,
            "version": "1001.0.0-SNAPSHOT" if cloud else "9.12.2",
            "versionNumbers": [1001, 0, 0] if cloud else [9, 12, 2],
            "deploymentType": "Cloud" if cloud else "Server",
            "buildNumber": 100240 if cloud else 9120002,
            "buildDate": "2024-01-01T00:00:00.000+0000",
            "serverTime": self.fake.now(),
            "scmInfo": "0123456789abcdef",
            "serverTitle": "Fake Jira",
        }

    def on_myself(self, request: Request, user: FakeUser, body: Any) -> dict[str, Any]:
        rendered = self.fake.renderer.user(user) or {}
        rendered["emailAddress"] = user.email
        rendered["groups"] = {"size": len(self._groups_of(user)), "items": []}
        return rendered

    def on_fields(self, request: Request, user: FakeUser, body: Any) -> list[dict[str, Any]]:
        return [
            {
                "id": f.id,
                "key": f.id,
                "name": f.name,
                "custom": f.custom,
                "orderable": True,
                "navigable": True,
                "searchable": True,
                "clauseNames": f.clause_names,
                "schema": f.schema,
            }
            for f in self.fake.fields.values()
        ]

    def on_project(self, request: Request, user: FakeUser, body: Any, key: str) -> dict[str, Any]:
        project = next(
            (p for p in self.fake.projects.values() if key in (p.key, p.id)),
            None,
        )
        if project is None:
            raise JiraRestError(404, [f"No project could be found with key '{key}'."])
        return self.fake.renderer.project(project)

    def on_get_issue(self, request: Request, user: FakeUser, body: Any, key: str) -> dict[str, Any]:
        issue = self.fake.get_issue(key)
        expand = _csv(request.args.get("expand"))
        changelog = self.fake.embedded_changelog(issue) if "changelog" in expand else None
        rendered = self.fake.renderer.issue(issue, self.fake.links, changelog=changelog)
        return _select_fields(rendered, request.args.get("fields"))

    def on_changelog(self, request: Request, user: FakeUser, body: Any, key: str) -> dict[str, Any]:
        issue = self.fake.get_issue(key)
        start = int(request.args.get("startAt", 0))
        limit = min(int(request.args.get("maxResults", 100)), 100)
        page = issue.changelog[start : start + limit]
        last = start + len(page) >= len(issue.changelog)
        self_url = f"{self.fake.renderer.api}/issue/{key}/changelog"
        result = {
            "self": f"{self_url}?maxResults={limit}&startAt={start}",
            "maxResults": limit,
            "startAt": start,
            "total": len(issue.changelog),
            "isLast": last,
            "values": [self.fake.renderer.history(h) for h in page],
        }
        if not last:
            result["nextPage"] = f"{self_url}?maxResults={limit}&startAt={start + limit}"
        return result

    def on_transitions(
        self, request: Request, user: FakeUser, body: Any, key: str
    ) -> dict[str, Any]:
        """The transitions `user` may make now: none without Transition Issues, as in Jira."""
        issue = self.fake.get_issue(key)
        flow = issue.project.workflow_for(issue.issuetype)
        with_fields = "transitions.fields" in _csv(request.args.get("expand"))
        allowed = self.fake.permissions.has(
            user.name, "TRANSITION_ISSUES", issue.project.key, self.fake.projects
        )
        return {
            "expand": "transitions",
            "transitions": [
                self.fake.renderer.transition(t, self.fake.statuses[t.to], with_fields=with_fields)
                for t in flow.from_status(issue.status.name)
                if allowed
            ],
        }

    def on_do_transition(self, request: Request, user: FakeUser, body: Any, key: str):
        issue = self.fake.get_issue(key)
        body = _object(body)
        transition = body.get("transition") or {}
        if "id" not in transition:
            raise JiraRestError(400, ["Missing 'transition' identifier"])
        if body.get("update"):
            raise JiraRestError(400, ["The fake supports transition fields only, not 'update'."])
        self.fake.transition(issue, str(transition["id"]), body.get("fields") or {}, user)
        return None

    def on_create_issue(self, request: Request, user: FakeUser, body: Any) -> dict[str, Any]:
        issue = self.fake.create_issue(_object(body).get("fields") or {}, user)
        return {
            "id": issue.id,
            "key": issue.key,
            "self": f"{self.fake.renderer.api}/issue/{issue.id}",
        }

    def on_edit_issue(self, request: Request, user: FakeUser, body: Any, key: str) -> None:
        issue = self.fake.get_issue(key)
        body = _object(body)
        self.fake.edit_issue(issue, body.get("fields") or {}, body.get("update") or {}, user)
        return None

    def on_comments(self, request: Request, user: FakeUser, body: Any, key: str) -> dict[str, Any]:
        issue = self.fake.get_issue(key)
        start = int(request.args.get("startAt", 0))
        limit = int(request.args.get("maxResults", 5000))
        page = issue.comments[start : start + limit]
        return {
            "startAt": start,
            "maxResults": limit,
            "total": len(issue.comments),
            "comments": [
                self.fake.renderer.comment(
                    issue, c, with_properties=_properties(request, self.fake)
                )
                for c in page
            ],
        }

    def on_add_comment(
        self, request: Request, user: FakeUser, body: Any, key: str
    ) -> dict[str, Any]:
        issue = self.fake.get_issue(key)
        body = _object(body)
        comment = self.fake.add_comment(issue, body.get("body"), user, _property_map(body))
        return self.fake.renderer.comment(issue, comment, with_properties=_properties(request))

    def on_comment(
        self, request: Request, user: FakeUser, body: Any, key: str, comment_id: str
    ) -> dict[str, Any]:
        issue = self.fake.get_issue(key)
        comment = next((c for c in issue.comments if c.id == comment_id), None)
        if comment is None:
            raise JiraRestError(404, [f"Can not find a comment for the id: {comment_id}."])
        return self.fake.renderer.comment(issue, comment, with_properties=_properties(request))

    def on_comment_property(
        self, request: Request, user: FakeUser, body: Any, comment_id: str, property_key: str
    ) -> dict[str, Any]:
        comment = next(
            (c for i in self.fake.issues.values() for c in i.comments if c.id == comment_id), None
        )
        if comment is None:
            raise JiraRestError(404, [f"Can not find a comment for the id: {comment_id}."])
        if property_key not in comment.properties:
            raise JiraRestError(404, [f"The property with key '{property_key}' does not exist."])
        return {"key": property_key, "value": comment.properties[property_key]}

    def on_edit_comment(
        self, request: Request, user: FakeUser, body: Any, key: str, comment_id: str
    ) -> tuple[dict[str, Any], int]:
        issue = self.fake.get_issue(key)
        body = _object(body)
        comment = self.fake.edit_comment(
            issue, comment_id, body.get("body"), user, _property_map(body)
        )
        return self.fake.renderer.comment(issue, comment, with_properties=_properties(request)), 200

    def _matching(self, request: Request, body: Any, user: FakeUser) -> tuple[list[FakeIssue], Any]:
        params: dict[str, Any] = dict(request.args.items())
        if request.method == "POST":
            params.update(_object(body))
        context = JqlContext(
            field_ids=self.fake.field_id,
            now=self.fake.clock.now(),
            current_user=user,
        )
        try:
            predicate = compile_jql(str(params.get("jql") or ""), context)
        except JqlError as error:
            raise JiraRestError(400, [str(error)]) from error
        found = [i for i in self.fake.issues.values() if not i.deleted and predicate(i)]
        return found, params

    def _search_results(self, issues: list[FakeIssue], params: dict[str, Any]) -> list[dict]:
        fields = params.get("fields")
        if isinstance(fields, list):
            fields = ",".join(fields)
        return [
            _select_fields(self.fake.renderer.issue(i, self.fake.links), fields) for i in issues
        ]

    def on_search(self, request: Request, user: FakeUser, body: Any) -> tuple[dict[str, Any], int]:
        """Data Center's offset search (Cloud removed it: `_absent_resource` answers 410)."""
        found, params = self._matching(request, body, user)
        start = int(params.get("startAt", 0))
        limit = int(params.get("maxResults", 50))
        page = found[start : start + limit]
        return {
            "expand": "schema,names",
            "startAt": start,
            "maxResults": limit,
            "total": len(found),
            "issues": self._search_results(page, params),
        }, 200

    def on_search_jql(self, request: Request, user: FakeUser, body: Any) -> tuple[dict, int]:
        found, params = self._matching(request, body, user)
        start = int(params.get("nextPageToken") or 0)
        limit = int(params.get("maxResults", 50))
        page = found[start : start + limit]
        result: dict[str, Any] = {"issues": self._search_results(page, params)}
        if start + limit < len(found):
            result["nextPageToken"] = str(start + limit)
        result["isLast"] = start + limit >= len(found)
        return result, 200

    def _user_param(self, request: Request) -> FakeUser:
        """Cloud names users by `accountId` only (`username`/`key` are gone since the GDPR
        migration); Data Center by `username` or `key`, and knows no accountId."""
        if self.fake.flavour == "cloud":
            ref = request.args.get("accountId")
            user = self.fake.find_user(ref) if ref else None
            if user is None or ref != user.account_id:
                raise JiraRestError(404, [f"The user with account ID '{ref}' does not exist."])
            return user
        ref = request.args.get("username") or request.args.get("key")
        user = self.fake.find_user(ref) if ref else None
        if user is None or ref not in (user.name, user.key):
            raise JiraRestError(404, [f"The user named '{ref}' does not exist"])
        return user

    def _groups_of(self, user: FakeUser) -> list[str]:
        return sorted(name for name, members in self.fake.groups.items() if user.name in members)

    def _may_browse_users(self, user: FakeUser) -> None:
        """On Cloud, reading a user (and their groups) needs *Browse users and groups* (403),
        as Atlassian's description says; Data Center documents no such condition."""
        if self.fake.flavour == "cloud" and not self.fake.permissions.has(
            user.name, "USER_PICKER", None, self.fake.projects
        ):
            raise JiraRestError(
                403, ["You need the 'Browse users and groups' global permission to see users."]
            )

    def on_user(self, request: Request, user: FakeUser, body: Any) -> dict[str, Any]:
        self._may_browse_users(user)
        target = self._user_param(request)
        rendered = self.fake.renderer.user(target) or {}
        groups = self._groups_of(target)
        rendered["groups"] = {
            "size": len(groups),
            "items": [
                {"name": g, "self": f"{self.fake.renderer.api}/group?groupname={g}"} for g in groups
            ]
            if "groups" in _csv(request.args.get("expand"))
            else [],
        }
        return rendered

    def on_user_groups(self, request: Request, user: FakeUser, body: Any) -> tuple[list, int]:
        self._may_browse_users(user)
        target = self._user_param(request)
        return [
            {
                "name": g,
                "groupId": f"group-{g}",
                "self": f"{self.fake.renderer.api}/group?groupname={g}",
            }
            for g in self._groups_of(target)
        ], 200

    def on_my_permissions(self, request: Request, user: FakeUser, body: Any) -> dict[str, Any]:
        """Cloud requires `permissions`; Data Center lists every permission without it."""
        wanted = [
            k.strip() for k in (request.args.get("permissions") or "").split(",") if k.strip()
        ]
        if not wanted and self.fake.flavour == "cloud":
            raise JiraRestError(400, ["The 'permissions' query parameter is required."])
        unknown = [k for k in wanted if not permissions.known(k)]
        if unknown:
            raise JiraRestError(400, [f"Permission key '{unknown[0]}' does not exist."])
        project_ref = request.args.get("projectKey") or request.args.get("projectId")
        project = None
        if project_ref:
            project = next(
                (p for p in self.fake.projects.values() if project_ref in (p.key, p.id)), None
            )
            grants = self.fake.permissions
            if project is None or not grants.has(
                user.name, "BROWSE_PROJECTS", project.key, self.fake.projects
            ):
                raise JiraRestError(404, [f"No project could be found with key '{project_ref}'."])
        return self.fake.permissions.report(
            user.name,
            wanted or permissions.ALL_KEYS,
            project.key if project else None,
            self.fake.projects,
        )

    def on_project_statuses(
        self, request: Request, user: FakeUser, body: Any, key: str
    ) -> tuple[list[dict[str, Any]], int]:
        project = next((p for p in self.fake.projects.values() if key in (p.key, p.id)), None)
        if project is None or not self.fake.permissions.has(
            user.name, "BROWSE_PROJECTS", project.key, self.fake.projects
        ):
            raise JiraRestError(404, [f"No project could be found with key '{key}'."])
        api = self.fake.renderer.api
        return [
            {
                "self": f"{api}/issuetype/{issuetype.id}",
                "id": issuetype.id,
                "name": issuetype.name,
                "subtask": issuetype.subtask,
                "statuses": [
                    self.fake.renderer.status(self.fake.statuses[name])
                    for name in project.workflow_for(issuetype).statuses
                ],
            }
            for issuetype in project.issue_types
        ], 200

    def on_edit_meta(self, request: Request, user: FakeUser, body: Any, key: str) -> dict:
        issue = self.fake.get_issue(key)
        fields = self.fake.screen_fields(issue.project, issue.issuetype, "edit", user)
        return {
            "fields": {
                fid: screens.field_meta(fid, f.name, f.schema, create=False)
                for fid, f in fields.items()
            }
        }

    def on_create_meta(
        self, request: Request, user: FakeUser, body: Any, project: str, issuetype: str
    ) -> dict[str, Any]:
        found = next((p for p in self.fake.projects.values() if project in (p.key, p.id)), None)
        if found is None:
            raise JiraRestError(404, [f"No project could be found with key '{project}'."])
        chosen = next((t for t in found.issue_types if t.id == issuetype), None)
        if chosen is None:
            raise JiraRestError(404, [f"Issue type with id '{issuetype}' does not exist."])
        fields = self.fake.screen_fields(found, chosen, "create", user)
        context = [("project", "Project"), ("issuetype", "Issue Type")]
        if chosen.subtask:
            context.append(("parent", "Parent"))
        items = [
            screens.field_meta(fid, name, self.fake.fields[fid].schema, create=True)
            for fid, name in context
        ] + [screens.field_meta(fid, f.name, f.schema, create=True) for fid, f in fields.items()]
        start = int(request.args.get("startAt", 0))
        limit = min(int(request.args.get("maxResults", 50)), 200)
        return screens.page(items, start, limit, cloud=self.fake.flavour == "cloud")


_INVALID_JSON = object()

# Resources Data Center does not have (Cloud-only additions); real DC answers 404.
_CLOUD_ONLY = tuple(
    re.compile(pattern)
    for pattern in (
        rf"{API}/search/jql",
        rf"{API}/user/groups",
        rf"{API}/issue/[^/]+/changelog",
    )
)
# Resources Atlassian removed from Cloud (CHANGE-2046): answered 410 Gone, whatever the query.
_REMOVED_FROM_CLOUD = re.compile(r"/rest/api/[23]/search")
SEARCH_REMOVED = (
    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
    "A full migration guideline is available at "
    "https://developer.atlassian.com/changelog/#CHANGE-2046"
)


def _absent_resource(flavour: str, method: str, path: str) -> JiraRestError | None:
    """What this flavour of Jira answers for a resource it does not have, else None."""
    if flavour == "cloud" and _REMOVED_FROM_CLOUD.fullmatch(path) and method in ("GET", "POST"):
        return JiraRestError(410, [SEARCH_REMOVED])
    if flavour != "cloud" and any(p.fullmatch(path) for p in _CLOUD_ONLY):
        return JiraRestError(404, [f"null for uri: {path}"])
    return None


def _json_body(request: Request) -> Any:
    raw = request.get_data(cache=True)
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return _INVALID_JSON


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise JiraRestError(400, ["The request body must be a JSON object."])
    return body


def _properties(request: Request, fake: FakeJira | None = None) -> bool:
    wanted = "properties" in _csv(request.args.get("expand"))
    return wanted and (fake is None or fake.expands_comment_properties)


def _property_map(body: dict[str, Any]) -> dict[str, Any]:
    """A comment body's `properties` ([{key, value}], optional on create and update)."""
    listed = body.get("properties") or []
    if not isinstance(listed, list) or not all(
        isinstance(p, dict) and isinstance(p.get("key"), str) and "value" in p for p in listed
    ):
        raise JiraRestError(400, errors={"properties": "Each property needs a key and a value."})
    return {p["key"]: p["value"] for p in listed}


def _json(data: Any, status: int) -> Response:
    return Response(json.dumps(data), status=status, mimetype="application/json")


def _csv(value: str | None) -> set[str]:
    return {part.strip() for part in (value or "").split(",") if part.strip()}


def _select_fields(issue: dict[str, Any], fields: str | None) -> dict[str, Any]:
    """Apply the `fields` parameter: `*all`/`*navigable` keep all, a list keeps those."""
    wanted = _csv(fields)
    if not wanted or wanted & {"*all", "*navigable"}:
        return issue
    kept = {k: v for k, v in issue["fields"].items() if k in wanted}
    return {**issue, "fields": kept}


__all__ = ["FakeJiraApp", "not_found"]
