"""What the pages and the API work with: lessons services, access rules, the audit log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from flask import current_app

from plugin.audit import SQLiteAuditLog
from plugin.lessons.services import LessonsServices
from webhooks.web.audit import AuditSource, PolicyAuditSource


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

    @classmethod
    def from_settings(cls, settings: Any) -> AccessRules:
        public = getattr(settings, "public_url", None)
        return cls(
            tokens=tuple(t.get_secret_value() for t in getattr(settings, "web_token", ())),
            user_header=getattr(settings, "web_user_header", None) or None,
            editor_tokens=tuple(
                t.get_secret_value() for t in getattr(settings, "editor_token", ())
            ),
            editors=frozenset(getattr(settings, "editors", ()) or ()),
            allowed_origins=(str(public).rstrip("/"),) if public else (),
        )


@dataclass
class LessonsWeb:
    """The web context, one per app."""

    EXTENSION: ClassVar[str] = "hindsight.lessons"

    services: LessonsServices
    access: AccessRules = field(default_factory=AccessRules)
    audit: AuditSource | None = None
    projects: Sequence[str] = ()


def lessons_web() -> LessonsWeb:
    """The current app's web context, built from its runtime the first time it is needed."""
    web = current_app.extensions.get(LessonsWeb.EXTENSION)
    if web is None:
        from plugin.lessons.install import services_for

        runtime = current_app.extensions["hindsight"].runtime
        web = LessonsWeb(
            services=services_for(runtime),
            access=AccessRules.from_settings(runtime.settings),
            audit=PolicyAuditSource(SQLiteAuditLog(runtime.settings.db)),
        )
        current_app.extensions[LessonsWeb.EXTENSION] = web
    return web
