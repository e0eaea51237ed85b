"""The Jira port: the domain operations Hindsight needs from Jira, and the values they return.

Rules, policies and lesson suggestions see Jira only through `JiraPort`. The real adapter
(`plugin.jira.adapter`) speaks REST v2 through the `jira` library; the report-only adapter records
writes instead of making them; tests use a fake Jira server. Values are plain frozen dataclasses
so the engine never touches library objects or raw JSON.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, Literal, Protocol, runtime_checkable

StatusCategory = Literal["new", "indeterminate", "done", "undefined"]
Deployment = Literal["cloud", "server"]


@dataclass(frozen=True)
class Status:
    id: str
    name: str
    category: StatusCategory = "undefined"  # statusCategory.key


@dataclass(frozen=True)
class IssueType:
    id: str
    name: str
    subtask: bool = False


@dataclass(frozen=True)
class User:
    """A Jira user as Cloud (`account_id`) or Server/Data Center (`name`, `key`) identifies it."""

    account_id: str | None = None
    name: str | None = None
    key: str | None = None
    display_name: str = ""

    @property
    def ref(self) -> str:
        """The identifier to send back to Jira (accountId on Cloud, name on Server/DC)."""
        return self.account_id or self.name or self.key or ""

    def same_as(self, other: User | None) -> bool:
        if other is None:
            return False
        pairs = (
            (self.account_id, other.account_id),
            (self.name, other.name),
            (self.key, other.key),
        )
        return any(a is not None and a == b for a, b in pairs)


@dataclass(frozen=True)
class IssueRef:
    """A related issue as Jira embeds it (sub-task, link target): enough to judge it done."""

    key: str
    id: str = ""
    summary: str = ""
    status: Status | None = None
    issuetype: IssueType | None = None


@dataclass(frozen=True)
class IssueLink:
    type: str  # link type name, e.g. "Blocks"
    direction: Literal["inward", "outward"]
    description: str  # e.g. "is blocked by"
    issue: IssueRef


# The entity property Hindsight sets on the comments it writes: {"markers": [...]}. Properties
# are invisible to people and survive their edits; a marker inside the body does not (Cloud
# stores bodies as ADF, which has no anchor, and a person's edit rewrites the body).
COMMENT_PROPERTY = "hindsight"
_MARKER = re.compile(r"\{anchor:hindsight-[^}]*\}")


def markers_in(text: str) -> tuple[str, ...]:
    """The `{anchor:hindsight-…}` markers in `text`, in order, each once."""
    return tuple(dict.fromkeys(_MARKER.findall(text)))


def without_markers(text: str) -> str:
    """`text` with Hindsight's markers removed (what Cloud gives back of a body it stored)."""
    return _MARKER.sub("", text)


@dataclass(frozen=True)
class Comment:
    """A comment. `markers` are set only on the service account's own comments: read from
    their `hindsight` entity property or, for comments written before it, from the body."""

    id: str
    body: str
    author: User | None = None
    created: str = ""
    updated: str = ""
    markers: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChangeItem:
    field: str
    field_id: str | None
    from_value: str | None
    from_string: str | None
    to_value: str | None
    to_string: str | None

    @property
    def is_status(self) -> bool:
        return (self.field_id or self.field.lower()) == "status"


@dataclass(frozen=True)
class ChangeEntry:
    id: str
    created: str
    author: User | None
    items: tuple[ChangeItem, ...]

    @cached_property
    def order(self) -> tuple[float, int, str]:
        """Where this entry sits in time: `created` as an instant (offsets differ per user),
        then the numeric `id` for entries of the same millisecond. Unreadable dates sort first."""
        moment = _instant(self.created)
        number = int(self.id) if self.id.isdigit() else -1
        return (float("-inf") if moment is None else moment, number, self.id)


def chronological(entries: Iterable[ChangeEntry]) -> tuple[ChangeEntry, ...]:
    """`entries` oldest first, whatever order Jira listed them in (see `Issue.changelog`)."""
    return tuple(sorted(entries, key=lambda entry: entry.order))


def _instant(text: str) -> float | None:
    """Jira's `2019-02-15T19:01:52.971-0800` (or ISO 8601) as a POSIX timestamp."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


@dataclass(frozen=True)
class Issue:
    """An issue's current state. `fields` holds every raw field by id (customfield_NNNNN...).

    `changelog` is always oldest first, ordered by (`created`, `id`): the issue sorts it when it
    is built, because Jira's own order differs by call (Cloud's `expand=changelog` lists the
    newest first, `/issue/{key}/changelog` the oldest first). Read it with `history_newest_first`
    when the latest matching entry is wanted.
    """

    key: str
    id: str
    project: str
    issuetype: IssueType
    status: Status
    summary: str = ""
    description: str = ""
    priority: str | None = None
    labels: tuple[str, ...] = ()
    components: tuple[str, ...] = ()
    resolution: str | None = None
    assignee: User | None = None
    reporter: User | None = None
    parent: str | None = None  # parent key, for sub-tasks
    duedate: str | None = None
    created: str = ""
    updated: str = ""
    subtasks: tuple[IssueRef, ...] = ()
    links: tuple[IssueLink, ...] = ()
    comments: tuple[Comment, ...] = ()
    changelog: tuple[ChangeEntry, ...] = ()
    fields: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "changelog", chronological(self.changelog))

    def history_newest_first(self) -> Iterator[ChangeEntry]:
        """The changelog from the latest entry back to the first."""
        return reversed(self.changelog)


@dataclass(frozen=True)
class ScreenField:
    """A field on a screen (create, edit or transition): one Jira lets the caller set there.

    Jira refuses a write that names a field its screen lacks ("Field 'x' cannot be set. It is
    not on the appropriate screen, or unknown."), so writers ask for the screen first.
    """

    id: str
    name: str
    required: bool = False
    allowed_values: tuple[str, ...] = ()
    schema_type: str = ""  # schema.type: string, option, array, user, date, number...


@dataclass(frozen=True)
class Transition:
    id: str
    name: str
    to: Status
    fields: Mapping[str, ScreenField] = field(default_factory=dict)  # the screen's fields


@dataclass(frozen=True)
class Project:
    key: str
    id: str
    name: str
    description: str = ""
    category: str | None = None
    project_type: str | None = None  # projectTypeKey: software, business, service_desk
    issue_types: tuple[IssueType, ...] = ()
    lead: User | None = None


@dataclass(frozen=True)
class ServerInfo:
    """What `GET /serverInfo` says about the site."""

    deployment: Deployment
    version: str = ""
    base_url: str = ""
    title: str = ""


@dataclass(frozen=True)
class FieldInfo:
    """A field as `GET /field` lists it: id, name and the schema type its values have."""

    id: str
    name: str
    schema_type: str = ""  # string, number, date, datetime, option, user, array, ...
    items: str = ""  # for arrays: the type of each item (option, user, string...)
    custom: bool = False


@dataclass(frozen=True)
class Identity:
    """Who Hindsight is in Jira, and what kind of Jira it talks to."""

    user: User
    deployment: Deployment


@runtime_checkable
class JiraPort(Protocol):
    """What Hindsight does in Jira, nothing more. Every method raises `JiraApiError` on failure."""

    def get_issue(self, key: str) -> Issue:
        """Current fields, status, sub-tasks, links, comments (the service account's own with
        their `markers`) and the full changelog (every history, oldest first)."""
        ...

    def get_transitions(self, key: str) -> list[Transition]:
        """The transitions available now, each with its screen's fields."""
        ...

    def transition_issue(
        self, key: str, transition_id: str, fields: Mapping[str, Any] | None = None
    ) -> None: ...

    def add_comment(self, key: str, body: str, *, markers: Sequence[str] = ()) -> Comment:
        """Comment as the service account; `markers` go into the comment's `hindsight` entity
        property, by which Hindsight finds its comment again (`Comment.markers`)."""
        ...

    def edit_comment(
        self, key: str, comment_id: str, body: str, *, markers: Sequence[str] = ()
    ) -> None:
        """Replace the body (and, when given, the `hindsight` property's markers)."""
        ...

    def subtask_type(self, project_key: str) -> IssueType:
        """The project's sub-task issue type: the one whose `subtask` flag is true."""
        ...

    def create_screen(self, project_key: str, issuetype_id: str) -> Mapping[str, ScreenField]:
        """The fields the create screen of this project and issue type has (create meta)."""
        ...

    def edit_screen(self, key: str) -> Mapping[str, ScreenField]:
        """The fields the service account may set on `key` now (edit meta)."""
        ...

    def create_subtask(
        self,
        parent_key: str,
        summary: str,
        description: str = "",
        *,
        assignee: User | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> IssueRef:
        """Create a sub-task of type `subtask_type`; sends exactly the fields given (check
        them against `create_screen` first: Jira refuses the whole create otherwise)."""
        ...

    def create_issue(
        self,
        project_key: str,
        issuetype: str,
        summary: str,
        description: str = "",
        *,
        fields: Mapping[str, Any] | None = None,
    ) -> IssueRef: ...

    def add_labels(self, key: str, labels: Iterable[str]) -> None: ...

    def remove_labels(self, key: str, labels: Iterable[str]) -> None: ...

    def set_fields(self, key: str, fields: Mapping[str, Any]) -> None:
        """Set fields by id (`customfield_10010`) or system name (`duedate`); each must be on
        the edit screen (`edit_screen`)."""
        ...

    def search(self, jql: str, *, page_size: int = 50) -> Iterator[Issue]:
        """Every issue matching `jql`, page by page."""
        ...

    def get_project(self, key: str) -> Project: ...

    def field_id(self, name_or_id: str) -> str:
        """Resolve a field name ("Change type") or id to its id; cached. KeyError if unknown."""
        ...

    def user_groups(self, user: User) -> frozenset[str]:
        """Names of the groups `user` belongs to."""
        ...

    def myself(self) -> Identity: ...


def status_items(items: Sequence[ChangeItem]) -> list[ChangeItem]:
    """The status changes among changelog items (Cloud matches on fieldId, Server on field)."""
    return [item for item in items if item.is_status]
