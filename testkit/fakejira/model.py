"""The fake Jira's state: users, statuses, workflows, projects, fields and issues.

Plain mutable dataclasses guarded by `FakeJira`'s lock. Ids are strings, as Jira sends them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Category = Literal["new", "indeterminate", "done"]
Flavour = Literal["cloud", "server"]


@dataclass
class FakeUser:
    """A Jira user; Cloud identifies it by `account_id`, Data Center by `name`/`key`."""

    account_id: str
    name: str
    display_name: str
    email: str
    key: str = ""
    api_token: str | None = None  # Cloud basic auth: email + API token
    pat: str | None = None  # Data Center personal access token (Bearer)
    active: bool = True
    time_zone: str = "Etc/UTC"

    def __post_init__(self) -> None:
        self.key = self.key or self.name

    def matches(self, ref: str) -> bool:
        """Whether `ref` (accountId, username or key) names this user."""
        return ref in (self.account_id, self.name, self.key)


@dataclass(frozen=True)
class StatusDef:
    id: str
    name: str
    category: Category


@dataclass(frozen=True)
class ScreenField:
    """A field on a transition screen (only `resolution` and custom fields are modelled)."""

    id: str
    required: bool = False


@dataclass(frozen=True)
class TransitionDef:
    """A workflow transition. `sources` None means global (available from every status)."""

    id: str
    name: str
    to: str  # target status name
    sources: frozenset[str] | None
    screen: tuple[ScreenField, ...] = ()
    clears_resolution: bool = False  # the "clear resolution" post-function of reopen steps

    def available_from(self, status: str) -> bool:
        return status != self.to and (self.sources is None or status in self.sources)

    def screen_ids(self) -> set[str]:
        return {f.id for f in self.screen}


@dataclass
class Workflow:
    name: str
    initial: str  # status name an issue is created in
    statuses: tuple[str, ...]  # status names, in board order
    transitions: list[TransitionDef]

    def transition(self, transition_id: str) -> TransitionDef | None:
        return next((t for t in self.transitions if t.id == transition_id), None)

    def from_status(self, status: str) -> list[TransitionDef]:
        return [t for t in self.transitions if t.available_from(status)]


@dataclass(frozen=True)
class IssueTypeDef:
    id: str
    name: str
    subtask: bool = False
    description: str = ""


@dataclass(frozen=True)
class FieldDef:
    """A field as `GET /field` lists it. `schema` is Jira's field schema (type, custom...)."""

    id: str
    name: str
    custom: bool
    schema: dict[str, Any] | None = None

    @property
    def clause_names(self) -> list[str]:
        if self.custom:
            number = self.id.removeprefix("customfield_")
            return [f"cf[{number}]", self.name]
        return [self.id]


@dataclass
class FakeProject:
    id: str
    key: str
    name: str
    lead: FakeUser
    issue_types: list[IssueTypeDef]
    workflows: dict[str, Workflow]  # issue type name -> workflow; "" is the default
    project_type: str = "software"
    description: str = ""
    category: str | None = None

    def workflow_for(self, issuetype: IssueTypeDef) -> Workflow:
        return self.workflows.get(issuetype.name) or self.workflows[""]

    def issuetype(self, id_or_name: str) -> IssueTypeDef | None:
        return next(
            (t for t in self.issue_types if id_or_name in (t.id, t.name)),
            None,
        )


@dataclass
class FakeComment:
    id: str
    body: str  # as stored: on Cloud, without the wiki macros ADF cannot hold
    author: FakeUser
    created: str
    updated: str
    update_author: FakeUser | None = None
    properties: dict[str, Any] = field(default_factory=dict)  # entity properties by key


@dataclass
class ChangeRecord:
    """One changelog item as Jira stores it (names and ids of the old and new values)."""

    field: str  # field name as Jira writes it ("status", "resolution", "labels", custom name)
    field_id: str
    fieldtype: str  # "jira" or "custom"
    from_value: str | None
    from_string: str | None
    to_value: str | None
    to_string: str | None


@dataclass
class History:
    id: str
    author: FakeUser
    created: str
    items: list[ChangeRecord]


@dataclass
class FakeLink:
    id: str
    type_name: str  # "Blocks"
    inward: str  # "is blocked by"
    outward: str  # "blocks"
    source: str  # issue key (outward side)
    target: str  # issue key (inward side)


@dataclass
class FakeIssue:
    id: str
    key: str
    project: FakeProject
    issuetype: IssueTypeDef
    status: StatusDef
    reporter: FakeUser
    creator: FakeUser
    created: str
    updated: str
    fields: dict[str, Any] = field(default_factory=dict)  # summary, labels, custom fields...
    resolution: dict[str, str] | None = None  # {"id", "name"}
    resolution_date: str | None = None
    assignee: FakeUser | None = None
    parent: str | None = None
    subtasks: list[str] = field(default_factory=list)
    comments: list[FakeComment] = field(default_factory=list)
    changelog: list[History] = field(default_factory=list)
    deleted: bool = False
