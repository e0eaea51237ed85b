"""A small in-memory JiraPort for the policy and lessons unit tests and the decision benchmark.

It keeps issues as port values, applies writes to them, and records every write so tests can
assert on exactly what was done; `fail` makes any port method raise `JiraApiError` with a given
status, as the adapter would. Workflows are a map: from status id -> transitions. (The fake
Jira in `testkit.fakejira` serves the same over real HTTP, for adapter and end-to-end tests.)
`tests/plugin/test_jira_conformance.py` holds it to the same cases as the real adapter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from plugin.jira.errors import JiraApiError
from plugin.jira.parse import own_markers
from plugin.jira.port import (
    COMMENT_PROPERTY,
    ChangeEntry,
    ChangeItem,
    Comment,
    Identity,
    Issue,
    IssueRef,
    IssueType,
    Project,
    ScreenField,
    Status,
    Transition,
    User,
)

# Where the adapter sends each port method's (first) request: (HTTP method, path template).
# An injected failure names it, so it reads like the adapter's errors.
ENDPOINTS: dict[str, tuple[str, str]] = {
    "get_issue": ("GET", "/rest/api/2/issue/{key}"),
    "get_transitions": ("GET", "/rest/api/2/issue/{key}/transitions"),
    "transition_issue": ("POST", "/rest/api/2/issue/{key}/transitions"),
    "add_comment": ("POST", "/rest/api/2/issue/{key}/comment"),
    "edit_comment": ("PUT", "/rest/api/2/issue/{key}/comment/{comment_id}"),
    "subtask_type": ("GET", "/rest/api/2/project/{key}"),
    "create_screen": ("GET", "/rest/api/2/issue/createmeta/{key}/issuetypes/{issuetype_id}"),
    "edit_screen": ("GET", "/rest/api/2/issue/{key}/editmeta"),
    "create_subtask": ("GET", "/rest/api/2/issue/{key}"),  # reads the parent first
    "create_issue": ("POST", "/rest/api/2/issue"),
    "add_labels": ("PUT", "/rest/api/2/issue/{key}"),
    "remove_labels": ("PUT", "/rest/api/2/issue/{key}"),
    "set_fields": ("PUT", "/rest/api/2/issue/{key}"),
    "search": ("GET", "/rest/api/2/search/jql"),
    "get_project": ("GET", "/rest/api/2/project/{key}"),
    "field_id": ("GET", "/rest/api/2/field"),
    "user_groups": ("GET", "/rest/api/2/user/groups"),
    "myself": ("GET", "/rest/api/2/myself"),
}

TODO = Status("1", "To Do", "new")
IN_PROGRESS = Status("3", "In Progress", "indeterminate")
DONE = Status("10002", "Done", "done")
CHANGE = IssueType("10001", "Change")
TASK = IssueType("10002", "Task")
SUBTASK = IssueType("10003", "Sub-task", subtask=True)
BOT = User(account_id="bot-1", display_name="Hindsight")
ALICE = User(account_id="alice-1", display_name="Alice")
CAB = User(account_id="cab-1", display_name="Carol (CAB)")

FIELDS = {
    "Change type": "customfield_10100",
    "Approval": "customfield_10101",
    "Impact on scope": "customfield_10102",
    "Impact on schedule": "customfield_10103",
    "Impact on cost": "customfield_10104",
    "Impact on quality": "customfield_10105",
    "Flagged": "customfield_10021",
    "Risk score": "customfield_10110",
    "Likelihood": "customfield_10111",
    "Impact": "customfield_10112",
    "Risk owner": "customfield_10113",
    "Risk response": "customfield_10114",
    "Next review date": "customfield_10115",
    "Next review": "customfield_10116",
    "Backout plan": "customfield_10106",
}


def standard_workflow(*, done_has_resolution: bool = True, way_back: bool = True) -> dict:
    """To Do -> In Progress -> Done, and Done -> In Progress ("Reopen") unless told otherwise."""
    resolution = {"resolution": ScreenField("resolution", "Resolution")}
    flows: dict[str, list[Transition]] = {
        TODO.id: [Transition("11", "Start", IN_PROGRESS), Transition("31", "Done", DONE)],
        IN_PROGRESS.id: [
            Transition("21", "Stop", TODO),
            Transition("31", "Done", DONE, resolution),
        ],
        DONE.id: [],
    }
    if way_back:
        flows[DONE.id].append(
            Transition("41", "Reopen", IN_PROGRESS, resolution if done_has_resolution else {})
        )
    return flows


@dataclass
class InjectedFailure:
    """`times` more calls of a port method (every call when None) raise `status` and `message`."""

    status: int | None
    message: str
    times: int | None = 1
    retry_after: float | None = None

    def take(self) -> bool:
        """Whether this call fails; counts it down."""
        if self.times is None:
            return True
        if self.times <= 0:
            return False
        self.times -= 1
        return True


@dataclass
class MemoryJira:
    """JiraPort in memory. `writes` lists (operation, key, arguments) in order: every write
    attempted, one that failed included, so a test sees what was tried."""

    workflow: dict[str, list[Transition]] = field(default_factory=standard_workflow)
    groups: dict[str, frozenset[str]] = field(default_factory=dict)  # account id -> groups
    issues: dict[str, Issue] = field(default_factory=dict)
    projects: dict[str, Project] = field(default_factory=dict)  # others: Change and Sub-task
    writes: list[tuple[str, str, Any]] = field(default_factory=list)
    reads: int = 0
    failures: dict[str, list[InjectedFailure]] = field(default_factory=dict)  # see `fail`
    create_screen_lacks: set[str] = field(default_factory=set)  # field ids on no create screen
    edit_screen_lacks: set[str] = field(default_factory=set)  # field ids on no edit screen
    _next_id: int = 900

    # -- setup ------------------------------------------------------------------------------
    def put(self, issue: Issue | str, /, **fields: Any) -> Issue:
        """Store `issue` with `fields` replaced, or build one from a key (a Task in To Do)."""
        if isinstance(issue, str):
            project = issue.rpartition("-")[0]
            self._next_id += 1
            defaults: dict[str, Any] = dict(id=str(self._next_id), issuetype=TASK, status=TODO)
            issue = Issue(key=issue, project=project, **{**defaults, **fields})
        elif fields:
            issue = replace(issue, **fields)
        self.issues[issue.key] = issue
        return issue

    def update(self, key: str, **fields: Any) -> Issue:
        """Change a stored issue's attributes, as an edit nobody is notified of would."""
        self.issues[key] = replace(self.issues[key], **fields)
        return self.issues[key]

    def fail(
        self,
        method: str,
        *,
        status: int | None = 500,
        message: str = "injected failure",
        times: int | None = 1,
        retry_after: float | None = None,
    ) -> None:
        """Make the next `times` calls of port method `method` (all of them when None) raise
        `JiraApiError(status)` before doing anything, as the adapter does when Jira refuses;
        `status=None` is a transport failure. Failures queue: each runs out before the next."""
        if method not in ENDPOINTS:
            raise ValueError(f"no port method {method!r}; allowed values: {sorted(ENDPOINTS)}")
        failure = InjectedFailure(status, message, times, retry_after)
        self.failures.setdefault(method, []).append(failure)

    def _enter(self, method: str, key: str = "", **path_values: str) -> None:
        """Raise the failure injected for `method`, if one is left."""
        for failure in self.failures.get(method, ()):
            if failure.take():
                http_method, path = ENDPOINTS[method]
                raise JiraApiError(
                    http_method,
                    path.format(key=key, **path_values),
                    failure.status,
                    failure.message,
                    retry_after=failure.retry_after,
                )

    def _issue(self, method: str, key: str, **path_values: str) -> Issue:
        """The stored issue `key`, or Jira's 404 for the request `method` would send."""
        if key not in self.issues:
            http_method, path = ENDPOINTS[method]
            raise JiraApiError(
                http_method,
                path.format(key=key, **path_values),
                404,
                "Issue does not exist or you do not have permission to see it.",
            )
        return self.issues[key]

    def operations(self) -> list[tuple[str, str]]:
        """(operation, issue key) of every write, in order, without the arguments."""
        return [(operation, key) for operation, key, _ in self.writes]

    # -- reads ------------------------------------------------------------------------------
    def get_issue(self, key: str) -> Issue:
        self.reads += 1
        self._enter("get_issue", key)
        issue = self._issue("get_issue", key)
        # sub-task refs carry their current status, as Jira embeds them
        subtasks = tuple(
            replace(ref, status=self.issues[ref.key].status) if ref.key in self.issues else ref
            for ref in issue.subtasks
        )
        # as the adapter reads them: markers on BOT's comments only, from the stored property
        # (`Comment.markers` as written), else from the body (comments from before properties)
        comments = tuple(
            replace(c, markers=own_markers(c.author, BOT, _as_property(c.markers), c.body))
            for c in issue.comments
        )
        return replace(issue, subtasks=subtasks, comments=comments)

    def get_transitions(self, key: str) -> list[Transition]:
        self.reads += 1
        self._enter("get_transitions", key)
        return list(self.workflow.get(self._issue("get_transitions", key).status.id, []))

    def search(self, jql: str, *, page_size: int = 50) -> Iterator[Issue]:
        """Issues matching the JQL's `project = / in (...)` and `labels = ` clauses; the rest of
        the query is not read, so callers must still check what they rely on."""
        self._enter("search")
        projects = _jql_values(jql, "project")
        labels = _jql_values(jql, "labels")
        for key, issue in list(self.issues.items()):
            if projects and issue.project not in projects:
                continue
            if labels and not labels <= set(issue.labels):
                continue
            yield self.get_issue(key)

    def get_project(self, key: str) -> Project:
        self._enter("get_project", key)
        if key in self.projects:
            return self.projects[key]
        return Project(key=key, id="10000", name=key, issue_types=(CHANGE, SUBTASK))

    def field_id(self, name_or_id: str) -> str:
        self._enter("field_id")
        if name_or_id in FIELDS.values():
            return name_or_id
        for name, field_id in FIELDS.items():
            if name.casefold() == name_or_id.casefold():
                return field_id
        raise KeyError(name_or_id)

    def user_groups(self, user: User) -> frozenset[str]:
        self._enter("user_groups")
        return self.groups.get(user.ref, frozenset())

    def subtask_type(self, project_key: str) -> IssueType:
        self._enter("subtask_type", project_key)
        return next(t for t in self.get_project(project_key).issue_types if t.subtask)

    def create_screen(self, project_key: str, issuetype_id: str) -> dict[str, ScreenField]:
        self._enter("create_screen", project_key, issuetype_id=issuetype_id)
        return _screen(self.create_screen_lacks)

    def edit_screen(self, key: str) -> dict[str, ScreenField]:
        self._enter("edit_screen", key)
        self._issue("edit_screen", key)
        return _screen(self.edit_screen_lacks)

    def myself(self) -> Identity:
        self._enter("myself")
        return Identity(BOT, "cloud")

    # -- writes -----------------------------------------------------------------------------
    def transition_issue(
        self, key: str, transition_id: str, fields: Mapping[str, Any] | None = None
    ) -> None:
        self.writes.append(("transition", key, {"id": transition_id, "fields": fields}))
        self._enter("transition_issue", key)
        issue = self._issue("transition_issue", key)
        transition = next(
            (t for t in self.workflow.get(issue.status.id, []) if t.id == transition_id), None
        )
        if transition is None:
            raise JiraApiError(
                "POST",
                f"/rest/api/2/issue/{key}/transitions",
                400,
                f"Transition id '{transition_id}' is not valid for this issue.",
            )
        if fields and "resolution" in fields and "resolution" not in transition.fields:
            raise JiraApiError(
                "POST",
                f"/rest/api/2/issue/{key}/transitions",
                400,
                "Field 'resolution' cannot be set. It is not on the appropriate screen",
            )
        item = ChangeItem(
            "status",
            "status",
            issue.status.id,
            issue.status.name,
            transition.to.id,
            transition.to.name,
        )
        self._change(key, status=transition.to, item=item)

    def add_comment(self, key: str, body: str, *, markers: Sequence[str] = ()) -> Comment:
        self.writes.append(("add_comment", key, body))
        self._enter("add_comment", key)
        issue = self._issue("add_comment", key)
        self._next_id += 1
        comment = Comment(str(self._next_id), body, BOT, markers=tuple(markers))
        self.issues[key] = replace(issue, comments=(*issue.comments, comment))
        return comment

    def edit_comment(
        self, key: str, comment_id: str, body: str, *, markers: Sequence[str] = ()
    ) -> None:
        self.writes.append(("edit_comment", key, {"id": comment_id, "body": body}))
        self._enter("edit_comment", key, comment_id=comment_id)
        issue = self._issue("edit_comment", key, comment_id=comment_id)
        if all(c.id != comment_id for c in issue.comments):
            raise JiraApiError(
                "PUT", f"/rest/api/2/issue/{key}/comment/{comment_id}", 404, "Comment not found"
            )
        comments = tuple(
            replace(c, body=body, markers=tuple(markers) or c.markers) if c.id == comment_id else c
            for c in issue.comments
        )
        self.issues[key] = replace(issue, comments=comments)

    def create_subtask(
        self,
        parent_key: str,
        summary: str,
        description: str = "",
        *,
        assignee: User | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> IssueRef:
        self.writes.append(
            (
                "create_subtask",
                parent_key,
                {"summary": summary, "assignee": assignee, "fields": dict(fields or {})},
            )
        )
        self._enter("create_subtask", parent_key)
        parent = self._issue("create_subtask", parent_key)
        subtask_type = next(t for t in self.get_project(parent.project).issue_types if t.subtask)
        sub = self._create(
            parent.project,
            subtask_type,
            summary,
            description,
            assignee=assignee,
            parent=parent_key,
            fields=fields,
        )
        ref = IssueRef(sub.key, sub.id, summary, sub.status, subtask_type)
        self.issues[parent_key] = replace(parent, subtasks=(*parent.subtasks, ref))
        return ref

    def create_issue(
        self,
        project_key: str,
        issuetype: str,
        summary: str,
        description: str = "",
        *,
        fields: Mapping[str, Any] | None = None,
    ) -> IssueRef:
        try:
            self._enter("create_issue", project_key)
        except JiraApiError:  # recorded under the project: the key is known once it is made
            planned = {"summary": summary, "fields": fields}
            self.writes.append(("create_issue", project_key, planned))
            raise
        wanted = issuetype.strip().lower()
        types = self.get_project(project_key).issue_types
        chosen = next((t for t in types if t.id == issuetype or t.name.lower() == wanted), None)
        if chosen is None:
            raise JiraApiError(
                "POST", "/rest/api/2/issue", 400, f"no issue type {issuetype!r} in {project_key}"
            )
        issue = self._create(project_key, chosen, summary, description, fields=fields)
        self.writes.append(("create_issue", issue.key, {"summary": summary, "fields": fields}))
        return IssueRef(issue.key, issue.id, summary, issue.status, chosen)

    def add_labels(self, key: str, labels: Iterable[str]) -> None:
        labels = list(labels)
        self.writes.append(("add_labels", key, labels))
        self._enter("add_labels", key)
        issue = self._issue("add_labels", key)
        merged = tuple(dict.fromkeys((*issue.labels, *labels)))
        self.issues[key] = replace(issue, labels=merged)

    def remove_labels(self, key: str, labels: Iterable[str]) -> None:
        labels = list(labels)
        self.writes.append(("remove_labels", key, labels))
        self._enter("remove_labels", key)
        issue = self._issue("remove_labels", key)
        self.issues[key] = replace(issue, labels=tuple(x for x in issue.labels if x not in labels))

    def set_fields(self, key: str, fields: Mapping[str, Any]) -> None:
        self.writes.append(("set_fields", key, dict(fields)))
        self._enter("set_fields", key)
        issue = self._issue("set_fields", key)
        self.issues[key] = replace(issue, fields={**issue.fields, **fields})

    def _create(
        self,
        project: str,
        issuetype: IssueType,
        summary: str,
        description: str,
        *,
        fields: Mapping[str, Any] | None = None,
        **attributes: Any,
    ) -> Issue:
        """A new issue numbered after the project's last one, as Jira numbers keys."""
        numbers = [int(k.rpartition("-")[2]) for k in self.issues if k.startswith(f"{project}-")]
        key = f"{project}-{max(numbers, default=0) + 1}"
        custom = dict(fields or {})
        labels = tuple(custom.pop("labels", ()))  # a system field: kept where Jira shows it
        self._next_id += 1
        self.issues[key] = Issue(
            key=key,
            id=str(self._next_id),
            project=project,
            issuetype=issuetype,
            status=TODO,
            summary=summary,
            description=description,
            labels=labels,
            fields=custom,
            **attributes,
        )
        return self.issues[key]

    # -- helpers for tests ------------------------------------------------------------------
    def move(self, key: str, to: Status, *, by: User = ALICE) -> ChangeItem:
        """A person moves the issue (no workflow check); returns the changelog item."""
        issue = self.issues[key]
        item = ChangeItem("status", "status", issue.status.id, issue.status.name, to.id, to.name)
        self._change(key, status=to, item=item, author=by)
        return item

    def set_by(self, key: str, name: str, value: Any, *, by: User, text: str) -> None:
        """A person sets a custom field (recorded in the changelog, as Jira does)."""
        field_id = FIELDS[name]
        issue = self.issues[key]
        item = ChangeItem(name, field_id, None, None, None, text)
        self._change(key, item=item, author=by, fields={**issue.fields, field_id: value})

    def comment_by(self, key: str, body: str, *, by: User) -> Comment:
        """A person comments (no entity property: markers in its body are not Hindsight's)."""
        self._next_id += 1
        comment = Comment(str(self._next_id), body, by)
        issue = self.issues[key]
        self.issues[key] = replace(issue, comments=(*issue.comments, comment))
        return comment

    def label_by(self, key: str, label: str, *, by: User) -> None:
        issue = self.issues[key]
        before = " ".join(issue.labels)
        labels = (*issue.labels, label)
        item = ChangeItem("labels", "labels", None, before, None, " ".join(labels))
        self._change(key, item=item, author=by, labels=labels)

    def _change(self, key: str, *, item: ChangeItem, author: User = BOT, **changes: Any) -> None:
        issue = self.issues[key]
        self._next_id += 1
        entry = ChangeEntry(str(self._next_id), "2026-01-01T00:00:00.000+0000", author, (item,))
        self.issues[key] = replace(issue, changelog=(*issue.changelog, entry), **changes)


def _as_property(markers: tuple[str, ...]) -> list[dict[str, Any]]:
    """Stored markers as the `hindsight` entity property Jira would list (none: no property)."""
    return [{"key": COMMENT_PROPERTY, "value": {"markers": list(markers)}}] if markers else []


def change_issue(key: str = "CHG-1", **overrides: Any) -> Issue:
    """A Change issue in progress, with nothing filled in."""
    base: dict[str, Any] = dict(
        key=key,
        id="10" + key.rpartition("-")[2],
        project=key.rpartition("-")[0],
        issuetype=CHANGE,
        status=IN_PROGRESS,
        summary="Upgrade the database",
        priority="Medium",
        assignee=ALICE,
        reporter=ALICE,
    )
    base.update(overrides)
    return Issue(**base)


_SYSTEM_SCREEN_FIELDS = (
    "summary", "description", "labels", "priority", "duedate", "assignee", "components",
)  # fmt: skip


def _screen(lacks: set[str]) -> dict[str, ScreenField]:
    """Every field the fake knows, less `lacks`: the screens of a generously configured site."""
    ids = (*_SYSTEM_SCREEN_FIELDS, *FIELDS.values())
    return {fid: ScreenField(fid, fid) for fid in ids if fid not in lacks}


def _jql_values(jql: str, field_name: str) -> set[str]:
    """The quoted values a JQL query gives `field_name` with `=` or `in (...)`."""
    found: set[str] = set()
    for single, many in re.findall(
        rf'\b{field_name}\s*(?:=\s*"([^"]*)"|in\s*\(([^)]*)\))', jql, re.IGNORECASE
    ):
        found.update([single] if single else re.findall(r'"([^"]*)"', many))
    return found
