"""Register the lessons handlers with a dispatcher (called from `hindsight.wiring`)."""

from __future__ import annotations

from collections.abc import Callable

from plugin.dispatch import Dispatcher
from plugin.events import JiraEvent
from plugin.jira.port import JiraPort
from plugin.lessons.actions import ActionStatusSync
from plugin.lessons.handlers import LessonsHandlers
from plugin.lessons.services import LessonsServices


def install(
    dispatcher: Dispatcher,
    services: LessonsServices,
    jira_for: Callable[[JiraEvent | None], JiraPort],
) -> None:
    """Suggest on new issues, capture retrospectives, seed new projects; keep action items'
    statuses in step with their Jira issues."""
    LessonsHandlers(
        services.suggester,
        services.seeder,
        services.capturer,
        jira_for,
        report_only=services.options.report_only,
    ).register(dispatcher)
    if services.store is not None:
        ActionStatusSync(services.store.actions, jira_for).register(dispatcher)
