"""`ReportOnlyJira`: a JiraPort that reads but never writes; writes are recorded as plans.

It runs when no Jira is configured (reads come from the delivery's own issue snapshot) and in
dry runs against a real Jira (reads go to the real adapter). Handlers run unchanged; what they
would have done is in `.writes`, in order, for reports and the audit log.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from plugin.jira.errors import JiraApiError, JiraNotConfigured
from plugin.jira.port import (
    Comment,
    Identity,
    Issue,
    IssueRef,
    IssueType,
    JiraPort,
    Project,
    ScreenField,
    Transition,
    User,
)

REPORT_ONLY_USER = User(display_name="Hindsight (report-only)")


@dataclass(frozen=True)
class PlannedWrite:
    """A write the report-only adapter did not make: `operation` is the port method's name."""

    operation: str
    key: str | None
    arguments: Mapping[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in self.arguments.items())
        return f"{self.operation} {self.key or ''}({shown})".replace(" (", "(")


class ReportOnlyJira:
    """Reads through `reads` (a real JiraPort) or from `snapshot`; records every write.

    Without `reads`, only the snapshot issue is known: other issues answer 404, transitions
    are unknown (an empty list, so reverts are planned as the comment-and-label fallback),
    searches find nothing, users belong to no group, and screens cannot be read (the engine
    runs offline then and plans screen-dependent writes without asking).
    """

    def __init__(self, reads: JiraPort | None = None, snapshot: Issue | None = None) -> None:
        self._reads = reads
        self._snapshot = snapshot
        self._lock = threading.Lock()
        self._numbers = itertools.count(1)
        self.writes: list[PlannedWrite] = []

    # ---------------------------------------------------------------- reads

    def get_issue(self, key: str) -> Issue:
        if self._reads is not None:
            return self._reads.get_issue(key)
        if self._snapshot is not None and key in (self._snapshot.key, self._snapshot.id):
            return self._snapshot
        raise JiraApiError(
            "GET",
            f"/rest/api/2/issue/{key}",
            404,
            "report-only run without Jira: only the delivery's own issue is known",
        )

    def get_transitions(self, key: str) -> list[Transition]:
        if self._reads is not None:
            return self._reads.get_transitions(key)
        self.get_issue(key)  # 404 for issues the snapshot does not hold
        return []

    def subtask_type(self, project_key: str) -> IssueType:
        if self._reads is not None:
            return self._reads.subtask_type(project_key)
        raise JiraNotConfigured("report-only run without Jira: the sub-task type is unknown")

    def create_screen(self, project_key: str, issuetype_id: str) -> Mapping[str, ScreenField]:
        if self._reads is not None:
            return self._reads.create_screen(project_key, issuetype_id)
        raise JiraNotConfigured("report-only run without Jira: create screens are unknown")

    def edit_screen(self, key: str) -> Mapping[str, ScreenField]:
        if self._reads is not None:
            return self._reads.edit_screen(key)
        raise JiraNotConfigured("report-only run without Jira: edit screens are unknown")

    def search(self, jql: str, *, page_size: int = 50) -> Iterator[Issue]:
        if self._reads is not None:
            yield from self._reads.search(jql, page_size=page_size)

    def get_project(self, key: str) -> Project:
        if self._reads is not None:
            return self._reads.get_project(key)
        if self._snapshot is not None and self._snapshot.project == key:
            return Project(key=key, id="", name=key, issue_types=(self._snapshot.issuetype,))
        raise JiraApiError("GET", f"/rest/api/2/project/{key}", 404, "report-only run without Jira")

    def field_id(self, name_or_id: str) -> str:
        if self._reads is not None:
            return self._reads.field_id(name_or_id)
        known = self._snapshot.fields if self._snapshot is not None else {}
        if name_or_id in known or name_or_id.startswith("customfield_"):
            return name_or_id
        raise KeyError(
            f"cannot resolve field name {name_or_id!r} without Jira: name it by id "
            "(customfield_NNNNN) in the policy, or configure Jira"
        )

    def user_groups(self, user: User) -> frozenset[str]:
        return self._reads.user_groups(user) if self._reads is not None else frozenset()

    def myself(self) -> Identity:
        if self._reads is not None:
            return self._reads.myself()
        return Identity(user=REPORT_ONLY_USER, deployment="cloud")

    # --------------------------------------------------------------- writes

    def _plan(self, operation: str, key: str | None, **arguments: Any) -> PlannedWrite:
        write = PlannedWrite(operation, key, MappingProxyType(dict(arguments)))
        with self._lock:
            self.writes.append(write)
        return write

    def transition_issue(
        self, key: str, transition_id: str, fields: Mapping[str, Any] | None = None
    ) -> None:
        self._plan("transition_issue", key, transition_id=transition_id, fields=dict(fields or {}))

    def add_comment(self, key: str, body: str, *, markers: Sequence[str] = ()) -> Comment:
        self._plan("add_comment", key, body=body)
        return Comment(
            id=f"planned-{next(self._numbers)}",
            body=body,
            author=REPORT_ONLY_USER,
            markers=tuple(markers),
        )

    def edit_comment(
        self, key: str, comment_id: str, body: str, *, markers: Sequence[str] = ()
    ) -> None:
        self._plan("edit_comment", key, comment_id=comment_id, body=body)

    def create_subtask(
        self,
        parent_key: str,
        summary: str,
        description: str = "",
        *,
        assignee: User | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> IssueRef:
        self._plan(
            "create_subtask",
            parent_key,
            summary=summary,
            description=description,
            assignee=assignee,
            fields=dict(fields or {}),
        )
        return IssueRef(key=f"PLANNED-{next(self._numbers)}", summary=summary)

    def create_issue(
        self,
        project_key: str,
        issuetype: str,
        summary: str,
        description: str = "",
        *,
        fields: Mapping[str, Any] | None = None,
    ) -> IssueRef:
        self._plan(
            "create_issue",
            None,
            project_key=project_key,
            issuetype=issuetype,
            summary=summary,
            description=description,
            fields=dict(fields or {}),
        )
        return IssueRef(key=f"PLANNED-{next(self._numbers)}", summary=summary)

    def add_labels(self, key: str, labels: Iterable[str]) -> None:
        self._plan("add_labels", key, labels=tuple(labels))

    def remove_labels(self, key: str, labels: Iterable[str]) -> None:
        self._plan("remove_labels", key, labels=tuple(labels))

    def set_fields(self, key: str, fields: Mapping[str, Any]) -> None:
        self._plan("set_fields", key, fields=dict(fields))
