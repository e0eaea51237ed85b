"""What the pages and the API work with: lessons services, access rules, the audit log."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from flask import current_app

from kb.postgres import PostgresURL
from plugin.jira.port import JiraPort
from plugin.lessons.actions import ActionItemPusher
from plugin.lessons.services import LessonsServices
from webhooks.web.audit import AuditSource


@dataclass(frozen=True)
class AccessRules:
    """Who may read the pages and the API: token holders, or users a trusted proxy names."""

    tokens: tuple[str, ...] = ()
    user_header: str | None = None
    editor_tokens: tuple[str, ...] = ()  # holders may curate (and read)
    editors: frozenset[str] = frozenset()  # proxy user names that may curate
    allowed_origins: tuple[str, ...] = ()  # besides the request's own host: public_url's

    @property
    def open(self) -> bool:
        return not self.tokens and not self.user_header

    @property
    def editing_enabled(self) -> bool:
        return bool(self.editor_tokens or (self.editors and self.user_header))

    def __repr__(self) -> str:  # counts only: a token may not reach a log or a traceback
        return (
            f"AccessRules(tokens={len(self.tokens)}, user_header={self.user_header!r},"
            f" editor_tokens={len(self.editor_tokens)}, editors={len(self.editors)})"
        )


@dataclass(frozen=True)
class WebOptions:
    """What the pages and the API read from the settings (built by `hindsight.wiring`)."""

    access: AccessRules = field(default_factory=AccessRules)
    audit_db: Path | PostgresURL | None = None  # where the audit page reads; None: no page
    jira_url: str | None = None  # issue keys link to {jira_url}/browse/KEY; None: plain text


@dataclass
class LessonsWeb:
    """The web context, one per app."""

    EXTENSION: ClassVar[str] = "hindsight.lessons"

    services: LessonsServices
    access: AccessRules = field(default_factory=AccessRules)
    audit: AuditSource | None = None
    projects: Sequence[str] = ()
    # The Jira "Create in Jira" writes to: the real port, or a report-only one that only plans.
    # The Jira base URL issue keys link to (KEY -> {jira_url}/browse/KEY); None: plain text.
    jira_url: str | None = None
    jira: Callable[[], JiraPort] | None = None
    report_only: bool = True

    def action_pusher(self) -> ActionItemPusher | None:
        """ "Create in Jira" for action items; None without a knowledge base or a Jira port."""
        if self.services.store is None or self.jira is None:
            return None
        return ActionItemPusher(
            self.services.store.actions,
            self.jira(),
            base_url=self.services.options.base_url,
            report_only=self.report_only,
        )


def lessons_web() -> LessonsWeb:
    """The current app's web context (set once, when the app is created)."""
    return current_app.extensions[LessonsWeb.EXTENSION]
