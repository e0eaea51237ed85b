"""The Jira port (`JiraPort`), its value types, and the adapters that implement it."""

from plugin.jira.errors import JiraApiError, JiraNotConfigured
from plugin.jira.port import (
    ChangeEntry,
    ChangeItem,
    Comment,
    Identity,
    Issue,
    IssueLink,
    IssueRef,
    IssueType,
    JiraPort,
    Project,
    ScreenField,
    Status,
    Transition,
    User,
)

__all__ = [
    "ChangeEntry",
    "ChangeItem",
    "Comment",
    "Identity",
    "Issue",
    "IssueLink",
    "IssueRef",
    "IssueType",
    "JiraApiError",
    "JiraNotConfigured",
    "JiraPort",
    "Project",
    "ScreenField",
    "Status",
    "Transition",
    "User",
]
