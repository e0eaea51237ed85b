"""`FakeJira`: a stateful Jira served over real HTTP, with a Python setup API for tests.

The REST handlers (`testkit.fakejira.api`) and the setup API below share one set of mutation
methods, so a transition made by a "human" in a test and one made by Hindsight through REST
record the same changelog and emit the same webhook; only the actor differs.
"""

from __future__ import annotations

import itertools
import re
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from kb.clock import SYSTEM_CLOCK, Clock
from testkit.fakejira import workflows
from testkit.fakejira.faults import Fault
from testkit.fakejira.model import (
    ChangeRecord,
    FakeComment,
    FakeIssue,
    FakeLink,
    FakeProject,
    FakeUser,
    FieldDef,
    Flavour,
    History,
    IssueTypeDef,
    StatusDef,
    TransitionDef,
    Workflow,
)
from testkit.fakejira.permissions import Permissions
from testkit.fakejira.render import RESOLUTIONS, Renderer
from testkit.fakejira.screens import (
    CREATE_CONTEXT,
    GATED_BY,
    NOT_ON_SCREEN,
    SETTABLE_SYSTEM,
    Screen,
    Screens,
)
from testkit.fakejira.webhooks import Webhook, WebhookCallback, WebhookSink, build_webhook


class JiraRestError(Exception):
    """A REST request the fake refuses, with the status and body real Jira would send."""

    def __init__(self, status: int, messages: Iterable[str] = (), errors: Mapping | None = None):
        self.status = status
        self.body = {"errorMessages": list(messages), "errors": dict(errors or {})}
        super().__init__(f"HTTP {status}: {self.body}")


def not_found(key: str) -> JiraRestError:
    return JiraRestError(404, ["Issue does not exist or you do not have permission to see it."])


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake served (after fault injection and validation)."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    body: Any
    user: str | None  # the authenticated user's name
    status: int


_SYSTEM_FIELDS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("summary", "Summary", {"type": "string", "system": "summary"}),
    ("description", "Description", {"type": "string", "system": "description"}),
    ("status", "Status", {"type": "status", "system": "status"}),
    ("resolution", "Resolution", {"type": "resolution", "system": "resolution"}),
    ("labels", "Labels", {"type": "array", "items": "string", "system": "labels"}),
    ("priority", "Priority", {"type": "priority", "system": "priority"}),
    ("issuetype", "Issue Type", {"type": "issuetype", "system": "issuetype"}),
    ("project", "Project", {"type": "project", "system": "project"}),
    ("assignee", "Assignee", {"type": "user", "system": "assignee"}),
    ("reporter", "Reporter", {"type": "user", "system": "reporter"}),
    ("duedate", "Due date", {"type": "date", "system": "duedate"}),
    ("components", "Component/s", {"type": "array", "items": "component", "system": "components"}),
    ("parent", "Parent", {"type": "issuelink", "system": "parent"}),
    (
        "issuelinks",
        "Linked Issues",
        {"type": "array", "items": "issuelinks", "system": "issuelinks"},
    ),
    ("subtasks", "Sub-tasks", {"type": "array", "items": "issuelinks", "system": "subtasks"}),
    ("created", "Created", {"type": "datetime", "system": "created"}),
    ("updated", "Updated", {"type": "datetime", "system": "updated"}),
    ("comment", "Comment", {"type": "comments-page", "system": "comment"}),
)
_SUBTASK_WITHOUT_PARENT = "Issue type is a sub-task but parent issue key or id not specified."


# wiki macros without a body that ADF drops, e.g. {anchor:name}
_WIKI_MACRO = re.compile(r"\{anchor(?::[^}]*)?\}")


def _jira_time(moment: datetime) -> str:
    """Jira's timestamp format: 2019-02-15T19:01:52.971+0000."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def _display(value: Any) -> str | None:
    """How a changelog shows a field value (`toString`)."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        return str(value.get("value") or value.get("name") or value.get("key") or "")
    if isinstance(value, list):
        return " ".join(str(_display(v)) for v in value)
    return str(value)


class _QuietHandler(WSGIRequestHandler):
    """No access log on stderr: `fake.requests` is the log."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


class FakeJira:
    """A Jira Cloud (`flavour="cloud"`) or Data Center (`"server"`) site for tests.

    Start it with `start()` (or use it as a context manager); `base_url` is then set. The
    service account (`service_account`) is the user the adapter fixture authenticates as.
    """

    def __init__(
        self,
        flavour: Flavour = "cloud",
        *,
        clock: Clock | None = None,
        validator: Any | None = None,
        changelog_page_limit: int = 100,
    ) -> None:
        self.flavour: Flavour = flavour
        self.clock: Clock = clock or SYSTEM_CLOCK
        self.validator = validator  # testkit.fakejira.openapi.RequestValidator or None
        self.changelog_page_limit = changelog_page_limit  # how many entries GET /issue embeds
        # False: comment listings ignore expand=properties (Cloud's reference documents only
        # renderedBody there), so properties are read through /comment/{id}/properties/{key}
        self.expands_comment_properties = True
        self.base_url = "http://127.0.0.1:0"
        self.lock = threading.RLock()
        self.users: dict[str, FakeUser] = {}
        self.groups: dict[str, set[str]] = {}  # group name -> user names
        self.statuses: dict[str, StatusDef] = {}
        self.fields: dict[str, FieldDef] = {
            fid: FieldDef(fid, name, custom=False, schema=schema)
            for fid, name, schema in _SYSTEM_FIELDS
        }
        self.projects: dict[str, FakeProject] = {}
        self.issues: dict[str, FakeIssue] = {}
        self.links: list[FakeLink] = []
        self.requests: list[RecordedRequest] = []
        self.violations: list[str] = []
        self.webhooks: list[Webhook] = []
        self.faults: list[Fault] = []
        self.screens = Screens()  # create and edit screens (screens.py)
        self.permissions = Permissions()  # per user and project (permissions.py)
        self._pending: list[Webhook] = []
        self._sink: WebhookSink | None = None
        self._ids = itertools.count(10000)
        self._issue_numbers: dict[str, itertools.count[int]] = {}
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.stopping = threading.Event()
        self.service_account = self.add_user(
            "hindsight-bot",
            "Hindsight",
            api_token="bot-api-token",
            pat="bot-personal-access-token",
        )

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> FakeJira:
        from testkit.fakejira.api import FakeJiraApp

        self._server = make_server(
            "127.0.0.1", 0, FakeJiraApp(self), threaded=True, request_handler=_QuietHandler
        )
        self.base_url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="fake-jira", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()  # wakes slow-response faults
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeJira:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def renderer(self) -> Renderer:
        return Renderer(self.base_url, self.flavour, self.issues.get)

    def now(self) -> str:
        return _jira_time(self.clock.now())

    def next_id(self) -> str:
        return str(next(self._ids))

    # ----------------------------------------------------------------- setup API

    def add_user(
        self,
        name: str,
        display_name: str | None = None,
        *,
        email: str | None = None,
        account_id: str | None = None,
        groups: Iterable[str] = (),
        api_token: str | None = None,
        pat: str | None = None,
    ) -> FakeUser:
        """A user; Cloud code sees `account_id`, Data Center code sees `name`/`key`."""
        with self.lock:
            user = FakeUser(
                account_id=account_id or f"5b10ac8d82e05b22cc7d{len(self.users):04d}",
                name=name,
                display_name=display_name or name.replace("-", " ").title(),
                email=email or f"{name}@example.com",
                api_token=api_token,
                pat=pat,
            )
            self.users[name] = user
            for group in groups:
                self.groups.setdefault(group, set()).add(name)
            return user

    def add_group(self, name: str, members: Iterable[str | FakeUser] = ()) -> None:
        with self.lock:
            group = self.groups.setdefault(name, set())
            group.update(m.name if isinstance(m, FakeUser) else m for m in members)

    def user(self, ref: str | FakeUser) -> FakeUser:
        """A user by name, accountId or key (KeyError if unknown)."""
        if isinstance(ref, FakeUser):
            return ref
        found = self.find_user(ref)
        if found is None:
            raise KeyError(f"no fake user {ref!r}; add it with fake.add_user()")
        return found

    def find_user(self, ref: str) -> FakeUser | None:
        return next((u for u in self.users.values() if u.matches(ref)), None)

    def add_field(
        self, name: str, field_id: str | None = None, schema: Mapping[str, Any] | None = None
    ) -> FieldDef:
        """A custom field (`customfield_NNNNN`); `schema` defaults to a text field."""
        with self.lock:
            fid = field_id or f"customfield_{10050 + sum(f.custom for f in self.fields.values())}"
            definition = FieldDef(
                fid,
                name,
                custom=True,
                schema=dict(schema or {"type": "string", "custom": "textfield"}),
            )
            self.fields[fid] = definition
            return definition

    def field_id(self, name_or_id: str) -> str | None:
        """A field's id from its id, name (case-insensitive) or JQL clause name (`cf[10050]`)."""
        lowered = name_or_id.lower()
        for definition in self.fields.values():
            names = {definition.id.lower(), definition.name.lower()}
            names.update(c.lower() for c in definition.clause_names)
            if lowered in names:
                return definition.id
        return None

    def status(self, name: str, category: str | None = None, status_id: str | None = None):
        """The status named `name`, created (global, like Jira's) on first use."""
        with self.lock:
            if name not in self.statuses:
                if category is None:
                    raise KeyError(f"unknown status {name!r}; give its category to create it")
                self.statuses[name] = StatusDef(status_id or self.next_id(), name, category)  # type: ignore[arg-type]
            return self.statuses[name]

    def add_workflow(self, workflow: workflows.WorkflowSpec) -> Workflow:
        """Register a workflow's statuses and return it, ready for `add_project`."""
        for name, category, status_id in workflow.statuses:
            self.status(name, category, status_id)
        return workflow.build()

    def add_project(
        self,
        key: str,
        name: str | None = None,
        *,
        lead: str | FakeUser | None = None,
        issue_types: Iterable[IssueTypeDef] | None = None,
        workflow: Workflow | None = None,
        workflows_by_type: Mapping[str, Workflow] | None = None,
        project_type: str = "software",
        category: str | None = None,
        as_user: str | FakeUser | None = None,
    ) -> FakeProject:
        """A project; by default with the change workflow and a localised sub-task type.

        Emits `project_created` like Jira does.
        """
        with self.lock:
            if key in self.projects:
                raise ValueError(f"project {key} exists already")
            default_flow = workflow or self.add_workflow(workflows.CHANGE)
            flows: dict[str, Workflow] = {"": default_flow}
            if workflow is None and workflows_by_type is None:
                flows[workflows.SUBTASK_TYPE.name] = self.add_workflow(workflows.SUBTASK)
            flows.update(workflows_by_type or {})
            project = FakeProject(
                id=self.next_id(),
                key=key,
                name=name or f"{key} project",
                lead=self.user(lead) if lead else self.service_account,
                issue_types=list(issue_types or workflows.DEFAULT_ISSUE_TYPES),
                workflows=flows,
                project_type=project_type,
                category=category,
            )
            self.projects[key] = project
            self._issue_numbers[key] = itertools.count(1)
            self._emit(self._project_event(project, self.user(as_user or self.service_account)))
            return project

    def add_issue(
        self,
        project: str,
        issuetype: str,
        summary: str,
        *,
        status: str | None = None,
        description: str | None = None,
        labels: Iterable[str] = (),
        fields: Mapping[str, Any] | None = None,
        parent: str | None = None,
        reporter: str | FakeUser | None = None,
        assignee: str | FakeUser | None = None,
        resolution: str | None = None,
    ) -> str:
        """Create an issue as `reporter` (a human: emits `jira:issue_created`); returns its key.

        `status` places it directly in that status (recorded as a changelog entry, as if it
        had been moved there); `fields` holds custom or system field values by id or name.
        """
        actor = self.user(reporter) if reporter else self._default_human()
        raw: dict[str, Any] = {
            "project": {"key": project},
            "issuetype": {"name": issuetype},
            "summary": summary,
            "labels": list(labels),
        }
        if description is not None:
            raw["description"] = description
        if parent is not None:
            raw["parent"] = {"key": parent}
        if assignee is not None:
            raw["assignee"] = {"name": self.user(assignee).name}
        for name, value in (fields or {}).items():
            raw[self.field_id(name) or name] = value
        with self.lock:
            issue = self.create_issue(raw, actor)
            if status is not None and status != issue.status.name:
                self._force_status(issue, status, actor, resolution)
            return issue.key

    def move(
        self,
        key: str,
        status: str,
        *,
        as_user: str | FakeUser | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> History:
        """A human moves `key` to `status` through an available transition (400 if none).

        A resolution required by the transition screen is filled with "Done" unless given.
        """
        actor = self.user(as_user) if as_user else self._default_human()
        with self.lock:
            issue = self.get_issue(key)
            flow = issue.project.workflow_for(issue.issuetype)
            transition = next(
                (t for t in flow.from_status(issue.status.name) if t.to == status), None
            )
            if transition is None:
                raise JiraRestError(
                    400, [f"No transition from '{issue.status.name}' to '{status}' in {flow.name}"]
                )
            values = dict(fields or {})
            if "resolution" in transition.screen_ids() and "resolution" not in values:
                values["resolution"] = {"name": "Done"}
            return self.transition(issue, transition.id, values, actor)

    def comment(
        self,
        key: str,
        body: str,
        *,
        as_user: str | FakeUser | None = None,
        properties: Mapping[str, Any] | None = None,
    ) -> str:
        """A human (or `as_user`) comments on `key`, with entity `properties`; returns its id."""
        actor = self.user(as_user) if as_user else self._default_human()
        with self.lock:
            return self.add_comment(self.get_issue(key), body, actor, properties).id

    def rewrite_comment(
        self, key: str, comment_id: str, body: str, *, as_user: str | FakeUser | None = None
    ) -> None:
        """A person edits a comment (anyone's, as a Jira admin may): the body is replaced, the
        entity properties stay."""
        actor = self.user(as_user) if as_user else self._default_human()
        with self.lock:
            self.edit_comment(self.get_issue(key), comment_id, body, actor)

    def edit(
        self, key: str, fields: Mapping[str, Any], *, as_user: str | FakeUser | None = None
    ) -> None:
        """A human edits fields (ids or names) of `key`."""
        actor = self.user(as_user) if as_user else self._default_human()
        by_id = {self.field_id(name) or name: value for name, value in fields.items()}
        with self.lock:
            self.edit_issue(self.get_issue(key), by_id, {}, actor)

    def link(self, source: str, target: str, type_name: str = "Blocks") -> None:
        """`source` blocks `target` (outward from source), like Jira's issue links."""
        inward, outward = {
            "Blocks": ("is blocked by", "blocks"),
            "Relates": ("relates to", "relates to"),
            "Duplicate": ("is duplicated by", "duplicates"),
        }.get(type_name, (f"is {type_name.lower()}ed by", type_name.lower()))
        with self.lock:
            self.get_issue(source)
            self.get_issue(target)
            self.links.append(FakeLink(self.next_id(), type_name, inward, outward, source, target))

    def delete_issue(self, key: str) -> None:
        """Delete an issue: later REST calls about it answer 404, as in Jira."""
        with self.lock:
            self.get_issue(key).deleted = True

    def issue(self, key: str) -> FakeIssue:
        """The current state of `key` (raises KeyError if unknown)."""
        with self.lock:
            return self.issues[key]

    def comments(self, key: str) -> list[FakeComment]:
        with self.lock:
            return list(self.issues[key].comments)

    def rest_json(self, key: str, *, changelog: bool = True) -> dict[str, Any]:
        """What `GET /rest/api/2/issue/{key}?expand=changelog` answers now."""
        with self.lock:
            issue = self.get_issue(key)
            return self.renderer.issue(
                issue, self.links, changelog=self.embedded_changelog(issue) if changelog else None
            )

    def embedded_changelog(self, issue: FakeIssue) -> list[History]:
        """The histories `GET /issue/{key}?expand=changelog` embeds, in Jira's order.

        Cloud: the newest `changelog_page_limit` (100), newest first, as Atlassian documents
        ("sorted by date, starting from the most recent"); the rest only through
        `/issue/{key}/changelog`, oldest first. Data Center: every history, oldest first.
        """
        if self.flavour == "cloud":
            return list(reversed(issue.changelog))[: self.changelog_page_limit]
        return list(issue.changelog)

    # ------------------------------------------------------------ fault injection

    def inject(
        self,
        method: str,
        path: str,
        status: int | None = None,
        *,
        times: int = 1,
        retry_after: int | None = None,
        delay: float = 0.0,
        body: Mapping[str, Any] | None = None,
    ) -> Fault:
        """The next `times` requests matching `method` and glob `path` fail with `status`."""
        fault = Fault(
            method.upper(),
            path,
            status,
            times=times,
            retry_after=retry_after,
            delay=delay,
            body=dict(body) if body is not None else None,
        )
        with self.lock:
            self.faults.append(fault)
        return fault

    def rate_limit(self, method: str, path: str, *, times: int = 1, retry_after: int = 1) -> Fault:
        return self.inject(method, path, 429, times=times, retry_after=retry_after)

    def unavailable(
        self, method: str, path: str, *, times: int = 1, retry_after: int | None = None
    ) -> Fault:
        return self.inject(method, path, 503, times=times, retry_after=retry_after)

    def slow(self, method: str, path: str, seconds: float, *, times: int = 1) -> Fault:
        """Answer normally, but only after `seconds` (longer than the client timeout = timeout)."""
        return self.inject(method, path, None, times=times, delay=seconds)

    def forbid(
        self, method: str, path: str, *, times: int = 1, message: str | None = None
    ) -> Fault:
        body = {"errorMessages": [message]} if message else None
        return self.inject(method, path, 403, times=times, body=body)

    def resolution_screen_error(self, key: str = "*", *, times: int = 1) -> Fault:
        """The next transition of `key` fails as if `resolution` were not on its screen."""
        return self.inject("POST", f"/rest/api/2/issue/{key}/transitions", 400, times=times)

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    fault.hits += 1
                    return fault
        return None

    # ------------------------------------------------------------------ webhooks

    def send_webhooks_to(
        self,
        callback: WebhookCallback | None = None,
        *,
        url: str | None = None,
        secret: str | None = None,
    ) -> WebhookSink:
        """Deliver future (and pending) webhooks to `callback` or `url` on `deliver_webhooks()`.

        With `secret`, deliveries carry `X-Hub-Signature: sha256=<hmac>` like admin webhooks.
        """
        if (callback is None) == (url is None):
            raise ValueError("give exactly one of callback or url")
        self._sink = WebhookSink(callback=callback, url=url, secret=secret)
        return self._sink

    def deliver_webhooks(self, *, max_rounds: int = 20) -> list[Webhook]:
        """Deliver pending webhooks in order, including those their handling causes.

        Runs in the caller's thread, after the REST calls that caused them have returned (Jira
        also sends webhooks after the change is saved). Raises RuntimeError if deliveries keep
        causing new ones for `max_rounds` rounds: an unbroken Jira -> Hindsight -> Jira loop.
        """
        if self._sink is None:
            raise RuntimeError("no webhook target: call fake.send_webhooks_to(...) first")
        delivered: list[Webhook] = []
        for _ in range(max_rounds):
            with self.lock:
                batch, self._pending = self._pending, []
            if not batch:
                return delivered
            for webhook in batch:
                self._sink.deliver(webhook)
                delivered.append(webhook)
        raise RuntimeError(f"webhooks still flowing after {max_rounds} rounds: a write loop?")

    def clear_webhooks(self) -> None:
        """Forget emitted and pending webhooks (e.g. those of the test's setup)."""
        with self.lock:
            self.webhooks.clear()
            self._pending.clear()

    def _emit(self, body: dict[str, Any]) -> None:
        secret = self._sink.secret if self._sink else None
        webhook = build_webhook(body, str(uuid.uuid4()), secret=secret, flavour=self.flavour)
        self.webhooks.append(webhook)
        self._pending.append(webhook)

    def _envelope(self, event: str, actor: FakeUser, **rest: Any) -> dict[str, Any]:
        return {
            "timestamp": int(self.clock.now().timestamp() * 1000),
            "webhookEvent": event,
            **rest,
            "user": self.renderer.user(actor),
        }

    def _webhook_issue(self, issue: FakeIssue) -> dict[str, Any]:
        body = self.renderer.issue(issue, self.links, with_comments=self.flavour == "server")
        body.pop("expand")
        return body

    def _issue_event(
        self, event: str, type_name: str, issue: FakeIssue, actor: FakeUser, history: History | None
    ) -> dict[str, Any]:
        body = self._envelope(event, actor, issue_event_type_name=type_name)
        body["issue"] = self._webhook_issue(issue)
        if history is not None:
            body["changelog"] = self.renderer.history(history, for_webhook=True)
        return body

    def _comment_event(self, event: str, issue: FakeIssue, comment: FakeComment) -> dict[str, Any]:
        body: dict[str, Any] = {
            "timestamp": int(self.clock.now().timestamp() * 1000),
            "webhookEvent": event,
            "comment": self.renderer.comment(issue, comment),
        }
        if self.flavour == "cloud":  # Data Center comment events carry no issue object
            full = self.renderer.fields(issue, self.links, with_comments=False)
            keep = ("summary", "issuetype", "project", "assignee", "priority", "status")
            body["issue"] = {
                "id": issue.id,
                "self": f"{self.renderer.api}/issue/{issue.id}",
                "key": issue.key,
                "fields": {k: full[k] for k in keep},
            }
        return body

    def _project_event(self, project: FakeProject, actor: FakeUser) -> dict[str, Any]:
        lead = self.renderer.user(project.lead) or {}
        return {
            "timestamp": int(self.clock.now().timestamp() * 1000),
            "webhookEvent": "project_created",
            "project": {
                **{
                    k: v
                    for k, v in self.renderer.project_ref(project).items()
                    if k not in ("id", "projectTypeKey")
                },
                "id": int(project.id),
                "projectLead": {
                    k: lead[k]
                    for k in ("self", "displayName", "accountId", "name", "key")
                    if k in lead
                },
                "assigneeType": "admin.assignee.type.unassigned",
            },
        }

    # --------------------------------------------- mutations shared by REST and setup

    def get_issue(self, key_or_id: str) -> FakeIssue:
        issue = self.issues.get(key_or_id) or next(
            (i for i in self.issues.values() if i.id == key_or_id), None
        )
        if issue is None or issue.deleted:
            raise not_found(key_or_id)
        return issue

    def create_issue(self, raw_fields: Mapping[str, Any], actor: FakeUser) -> FakeIssue:
        """Create from REST-style `fields`; validates project, type and parent like Jira."""
        fields = dict(raw_fields)
        project_ref = fields.pop("project", None) or {}
        project = next(
            (
                p
                for p in self.projects.values()
                if project_ref.get("key") == p.key or project_ref.get("id") == p.id
            ),
            None,
        )
        if project is None:
            raise JiraRestError(400, errors={"project": "valid project is required"})
        type_ref = fields.pop("issuetype", None) or {}
        issuetype = project.issuetype(str(type_ref.get("id") or type_ref.get("name") or ""))
        if issuetype is None:
            raise JiraRestError(400, errors={"issuetype": "valid issue type is required"})
        summary = fields.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            raise JiraRestError(400, errors={"summary": "You must specify a summary of the issue."})
        parent_ref = fields.pop("parent", None)
        parent: FakeIssue | None = None
        if issuetype.subtask:
            if not parent_ref:
                raise JiraRestError(
                    400,
                    errors={"parent": _SUBTASK_WITHOUT_PARENT},
                )
            parent = self.get_issue(str(parent_ref.get("key") or parent_ref.get("id")))
        elif parent_ref:
            raise JiraRestError(400, errors={"parent": "Only sub-tasks can have a parent here."})
        on_screen = self.screen_fields(project, issuetype, "create", actor)
        for field_id in fields:
            if field_id not in on_screen and field_id not in CREATE_CONTEXT:
                raise JiraRestError(400, errors={field_id: NOT_ON_SCREEN.format(field_id)})
        flow = project.workflow_for(issuetype)
        now = self.now()
        issue = FakeIssue(
            id=self.next_id(),
            key=f"{project.key}-{next(self._issue_numbers[project.key])}",
            project=project,
            issuetype=issuetype,
            status=self.statuses[flow.initial],
            reporter=actor,
            creator=actor,
            created=now,
            updated=now,
        )
        issue.fields["labels"] = []
        issue.fields["priority"] = "Medium"  # Jira's default priority scheme always sets one
        assignee = fields.pop("assignee", None)
        if assignee:
            issue.assignee = self._user_from_ref(assignee, "assignee")
        for field_id, value in fields.items():
            issue.fields[field_id] = self._normalise(field_id, value)
        if parent is not None:
            issue.parent = parent.key
            parent.subtasks.append(issue.key)
        self.issues[issue.key] = issue
        # Cloud puts the initial values in the delivery only, never in the REST changelog
        history = History(self.next_id(), actor, now, self._creation_items(issue))
        self._emit(
            self._issue_event(
                "jira:issue_created",
                "issue_created",
                issue,
                actor,
                history if self.flavour == "cloud" else None,
            )
        )
        return issue

    def transition(
        self, issue: FakeIssue, transition_id: str, fields: Mapping[str, Any], actor: FakeUser
    ) -> History:
        flow = issue.project.workflow_for(issue.issuetype)
        transition = flow.transition(str(transition_id))
        if transition is None or not transition.available_from(issue.status.name):
            raise JiraRestError(
                400, [f"Transition id '{transition_id}' is not valid for this issue."]
            )
        on_screen = transition.screen_ids()
        refused = {
            fid: f"Field '{fid}' cannot be set. It is not on the appropriate screen, or unknown."
            for fid in fields
            if fid not in on_screen
        }
        if refused:
            raise JiraRestError(400, errors=refused)
        missing = {
            f.id: f"{self._field_name(f.id)} is required."
            for f in transition.screen
            if f.required and not fields.get(f.id)
        }
        if missing:
            raise JiraRestError(400, errors=missing)
        items = self._status_items(issue, transition)
        for field_id, value in fields.items():
            if field_id == "resolution":
                items.extend(self._set_resolution(issue, value))
            else:
                items.extend(self._set_field(issue, field_id, value))
        return self._record(issue, actor, items, emit="issue_generic")

    def edit_issue(
        self,
        issue: FakeIssue,
        fields: Mapping[str, Any],
        update: Mapping[str, Any],
        actor: FakeUser,
    ) -> History | None:
        """`PUT /issue/{key}`: `fields` set values, `update` applies add/remove/set ops."""
        items: list[ChangeRecord] = []
        on_screen = self.screen_fields(issue.project, issue.issuetype, "edit", actor)
        for field_id in [*fields, *update]:
            if field_id not in on_screen:
                raise JiraRestError(400, errors={field_id: NOT_ON_SCREEN.format(field_id)})
        for field_id, value in fields.items():
            items.extend(self._set_field(issue, field_id, value))
        for field_id, operations in update.items():
            current = issue.fields.get(field_id)
            value = list(current) if isinstance(current, list) else current
            for operation in operations:
                (verb, argument), *extra = operation.items()
                if extra or verb not in ("add", "remove", "set"):
                    raise JiraRestError(400, errors={field_id: f"Unsupported operation '{verb}'."})
                if verb == "set":
                    value = argument
                elif not isinstance(value, list) and value is not None:
                    raise JiraRestError(
                        400, errors={field_id: f"Field '{field_id}' does not support {verb}."}
                    )
                elif verb == "add":
                    value = [*(value or []), *([] if argument in (value or []) else [argument])]
                else:
                    value = [v for v in value or [] if v != argument]
            items.extend(self._set_field(issue, field_id, value))
        if not items:
            return None
        return self._record(issue, actor, items, emit="issue_updated")

    def add_comment(
        self,
        issue: FakeIssue,
        body: str,
        actor: FakeUser,
        properties: Mapping[str, Any] | None = None,
    ) -> FakeComment:
        if not isinstance(body, str) or not body.strip():
            raise JiraRestError(400, errors={"comment": "Comment body can not be empty!"})
        now = self.now()
        comment = FakeComment(
            self.next_id(),
            self._stored_body(body),
            actor,
            now,
            now,
            properties=dict(properties or {}),
        )
        issue.comments.append(comment)
        issue.updated = now
        self._emit(self._comment_event("comment_created", issue, comment))
        return comment

    def edit_comment(
        self,
        issue: FakeIssue,
        comment_id: str,
        body: str,
        actor: FakeUser,
        properties: Mapping[str, Any] | None = None,
    ) -> FakeComment:
        """Replace the body; `properties` given set those keys, the others stay (as in Jira)."""
        comment = next((c for c in issue.comments if c.id == comment_id), None)
        if comment is None:
            raise JiraRestError(404, [f"Can not find a comment for the id: {comment_id}."])
        if not isinstance(body, str) or not body.strip():
            raise JiraRestError(400, errors={"comment": "Comment body can not be empty!"})
        comment.body = self._stored_body(body)
        comment.properties.update(properties or {})
        comment.updated = self.now()
        comment.update_author = actor
        self._emit(self._comment_event("comment_updated", issue, comment))
        return comment

    # ------------------------------------------------------------------ internals

    def _stored_body(self, body: str) -> str:
        """Rich text (comment bodies, descriptions) as Jira gives it back. Cloud stores ADF,
        which has no node for wiki macros such as `{anchor:...}` (rendered as nothing): they
        do not come back. Data Center keeps the text."""
        return _WIKI_MACRO.sub("", body) if self.flavour == "cloud" else body

    def _default_human(self) -> FakeUser:
        humans = [u for u in self.users.values() if u is not self.service_account]
        return humans[0] if humans else self.add_user("jira-admin", "Jira Admin")

    def _field_name(self, field_id: str) -> str:
        definition = self.fields.get(field_id)
        return definition.name if definition else field_id

    def screen_fields(
        self, project: FakeProject, issuetype: IssueTypeDef, screen: Screen, user: FakeUser
    ) -> dict[str, FieldDef]:
        """The fields `user` may set on this screen: settable system fields and custom
        fields, less those hidden from it, less those `user`'s permissions withhold."""

        def allowed(key: str) -> bool:
            return self.permissions.has(user.name, key, project.key, self.projects)

        if screen == "edit" and not allowed("EDIT_ISSUES"):
            return {}
        hidden = self.screens.hidden(project.key, issuetype.name, screen)
        return {
            fid: definition
            for fid, definition in self.fields.items()
            if (definition.custom or fid in SETTABLE_SYSTEM)
            and fid not in hidden
            and (fid not in GATED_BY or allowed(GATED_BY[fid]))
        }

    def _normalise(self, field_id: str, value: Any) -> Any:
        if field_id == "priority" and isinstance(value, Mapping):
            return value.get("name")
        if field_id in ("description", "environment") and isinstance(value, str):
            return self._stored_body(value)  # rich text: ADF on Cloud, like comment bodies
        if field_id == "labels":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise JiraRestError(400, errors={"labels": "Labels must be a list of strings."})
            if any(" " in v for v in value):
                raise JiraRestError(400, errors={"labels": "The label can't contain spaces."})
        if field_id == "components" and isinstance(value, list):
            return [v.get("name") if isinstance(v, Mapping) else v for v in value]
        return value

    def _user_from_ref(self, ref: Any, field_id: str) -> FakeUser | None:
        if ref is None:
            return None
        token = (
            ref.get("accountId") or ref.get("name") or ref.get("key")
            if isinstance(ref, Mapping)
            else ref
        )
        user = self.find_user(str(token)) if token else None
        if user is None:
            raise JiraRestError(400, errors={field_id: f"User '{token}' does not exist."})
        return user

    def _user_value(self, user: FakeUser | None) -> str | None:
        if user is None:
            return None
        return user.account_id if self.flavour == "cloud" else user.name

    def _change(self, field_id: str, old: Any, new: Any, old_id: Any = None, new_id: Any = None):
        definition = self.fields.get(field_id)
        custom = bool(definition and definition.custom)
        return ChangeRecord(
            field=definition.name if custom and definition else field_id,
            field_id=field_id,
            fieldtype="custom" if custom else "jira",
            from_value=None if old_id is None else str(old_id),
            from_string=_display(old),
            to_value=None if new_id is None else str(new_id),
            to_string=_display(new),
        )

    def _set_field(self, issue: FakeIssue, field_id: str, value: Any) -> list[ChangeRecord]:
        if field_id == "assignee":
            user = self._user_from_ref(value, "assignee")
            if user is issue.assignee:
                return []
            old, issue.assignee = issue.assignee, user
            return [
                self._change(
                    "assignee",
                    old.display_name if old else None,
                    user.display_name if user else None,
                    self._user_value(old),
                    self._user_value(user),
                )
            ]
        value = self._normalise(field_id, value)
        old = issue.fields.get(field_id)
        if old == value:
            return []
        issue.fields[field_id] = value
        ids = (None, None)
        if isinstance(value, Mapping) or isinstance(old, Mapping):
            ids = ((old or {}).get("id"), (value or {}).get("id"))
        return [self._change(field_id, old, value, *ids)]

    def _set_resolution(self, issue: FakeIssue, value: Any) -> list[ChangeRecord]:
        wanted = value.get("name") or value.get("id") if isinstance(value, Mapping) else value
        resolution = next((r for r in RESOLUTIONS if wanted in (r["id"], r["name"])), None)
        if value is not None and resolution is None:
            raise JiraRestError(400, errors={"resolution": f"Resolution '{wanted}' is not valid."})
        old = issue.resolution
        issue.resolution = dict(resolution) if resolution else None
        issue.resolution_date = self.now() if resolution else None
        return [
            ChangeRecord(
                "resolution",
                "resolution",
                "jira",
                old["id"] if old else None,
                old["name"] if old else None,
                resolution["id"] if resolution else None,
                resolution["name"] if resolution else None,
            )
        ]

    def _status_items(self, issue: FakeIssue, transition: TransitionDef) -> list[ChangeRecord]:
        old, new = issue.status, self.statuses[transition.to]
        issue.status = new
        items = [ChangeRecord("status", "status", "jira", old.id, old.name, new.id, new.name)]
        if transition.clears_resolution and issue.resolution is not None:
            items.extend(self._set_resolution(issue, None))
        return items

    def _force_status(
        self, issue: FakeIssue, status: str, actor: FakeUser, resolution: str | None
    ) -> None:
        """Setup shortcut: place an issue in `status` without walking the workflow."""
        flow = issue.project.workflow_for(issue.issuetype)
        if status not in flow.statuses:
            raise KeyError(f"status {status!r} is not in workflow {flow.name}: {flow.statuses}")
        target = TransitionDef("0", "setup", status, None)
        items = self._status_items(issue, target)
        if self.statuses[status].category == "done" and issue.resolution is None:
            items.extend(self._set_resolution(issue, resolution or "Done"))
        self._record(issue, actor, items, emit="issue_generic")

    def _creation_items(self, issue: FakeIssue) -> list[ChangeRecord]:
        """Cloud's create changelog: initial values, with `"field": "Status"` capitalised."""
        items = [
            ChangeRecord(
                "Status", "status", "jira", None, None, issue.status.id, issue.status.name
            ),
            self._change("summary", None, issue.fields.get("summary")),
        ]
        if issue.fields.get("description"):
            items.append(self._change("description", None, issue.fields["description"]))
        items.append(
            ChangeRecord(
                "reporter",
                "reporter",
                "jira",
                None,
                None,
                self._user_value(issue.reporter),
                issue.reporter.display_name,
            )
        )
        return items

    def _record(
        self,
        issue: FakeIssue,
        actor: FakeUser,
        items: list[ChangeRecord],
        *,
        emit: str | None,
    ) -> History:
        now = self.now()
        history = History(self.next_id(), actor, now, items)
        issue.changelog.append(history)
        issue.updated = now
        if emit is not None:
            self._emit(self._issue_event("jira:issue_updated", emit, issue, actor, history))
        return history
