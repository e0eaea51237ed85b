"""A `JiraPort` that counts Jira API errors by HTTP status (for /metrics) and passes on the rest.

Every method is written out, so the type checker holds it to the `JiraPort` protocol and a method
added to the port without a counted twin here fails the conformance test.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from plugin.jira.errors import JiraApiError
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

log = logging.getLogger(__name__)
T = TypeVar("T")
CountError = Callable[[int | None], None]


class CountingJira:
    """`inner`, with every `JiraApiError` counted by its HTTP status before it is re-raised."""

    def __init__(self, inner: JiraPort, count: CountError) -> None:
        self._inner = inner
        self._count = count

    def __repr__(self) -> str:
        return f"CountingJira({self._inner!r})"

    def _counted(self, call: Callable[[], T]) -> T:
        try:
            return call()
        except JiraApiError as exc:
            self._record(exc)
            raise

    def _record(self, exc: JiraApiError) -> None:
        try:
            self._count(exc.status)
        except Exception:  # metrics must never hide the real error
            log.warning("could not count a Jira API error", exc_info=True)

    def get_issue(self, key: str) -> Issue:
        return self._counted(lambda: self._inner.get_issue(key))

    def get_transitions(self, key: str) -> list[Transition]:
        return self._counted(lambda: self._inner.get_transitions(key))

    def transition_issue(
        self, key: str, transition_id: str, fields: Mapping[str, Any] | None = None
    ) -> None:
        self._counted(lambda: self._inner.transition_issue(key, transition_id, fields))

    def add_comment(self, key: str, body: str, *, markers: Sequence[str] = ()) -> Comment:
        return self._counted(lambda: self._inner.add_comment(key, body, markers=markers))

    def edit_comment(
        self, key: str, comment_id: str, body: str, *, markers: Sequence[str] = ()
    ) -> None:
        self._counted(lambda: self._inner.edit_comment(key, comment_id, body, markers=markers))

    def subtask_type(self, project_key: str) -> IssueType:
        return self._counted(lambda: self._inner.subtask_type(project_key))

    def create_screen(self, project_key: str, issuetype_id: str) -> Mapping[str, ScreenField]:
        return self._counted(lambda: self._inner.create_screen(project_key, issuetype_id))

    def edit_screen(self, key: str) -> Mapping[str, ScreenField]:
        return self._counted(lambda: self._inner.edit_screen(key))

    def create_subtask(
        self,
        parent_key: str,
        summary: str,
        description: str = "",
        *,
        assignee: User | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> IssueRef:
        return self._counted(
            lambda: self._inner.create_subtask(
                parent_key, summary, description, assignee=assignee, fields=fields
            )
        )

    def create_issue(
        self,
        project_key: str,
        issuetype: str,
        summary: str,
        description: str = "",
        *,
        fields: Mapping[str, Any] | None = None,
    ) -> IssueRef:
        return self._counted(
            lambda: self._inner.create_issue(
                project_key, issuetype, summary, description, fields=fields
            )
        )

    def add_labels(self, key: str, labels: Iterable[str]) -> None:
        self._counted(lambda: self._inner.add_labels(key, labels))

    def remove_labels(self, key: str, labels: Iterable[str]) -> None:
        self._counted(lambda: self._inner.remove_labels(key, labels))

    def set_fields(self, key: str, fields: Mapping[str, Any]) -> None:
        self._counted(lambda: self._inner.set_fields(key, fields))

    def search(self, jql: str, *, page_size: int = 50) -> Iterator[Issue]:
        # pages are fetched while iterating: an error on a later page is counted too
        try:
            yield from self._inner.search(jql, page_size=page_size)
        except JiraApiError as exc:
            self._record(exc)
            raise

    def get_project(self, key: str) -> Project:
        return self._counted(lambda: self._inner.get_project(key))

    def field_id(self, name_or_id: str) -> str:
        return self._counted(lambda: self._inner.field_id(name_or_id))

    def user_groups(self, user: User) -> frozenset[str]:
        return self._counted(lambda: self._inner.user_groups(user))

    def myself(self) -> Identity:
        return self._counted(self._inner.myself)
