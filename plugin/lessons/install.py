"""Register the lessons handlers on a runtime (listed in `hindsight.wiring.INSTALLERS`)."""

from __future__ import annotations

from typing import Any

from plugin.lessons.handlers import LessonsHandlers
from plugin.lessons.services import LessonsOptions, LessonsServices, build_services

SERVICES_KEY = "lessons"


def services_for(runtime: Any) -> LessonsServices:
    """The runtime's lessons services, built on first use and shared by handlers and pages."""
    shared = runtime.services
    if SERVICES_KEY not in shared:
        options = LessonsOptions.from_settings(runtime.settings, report_only=runtime.jira is None)
        shared[SERVICES_KEY] = build_services(options)
    return shared[SERVICES_KEY]


def install(runtime: Any) -> None:
    """Suggest on new issues, capture retrospectives, seed new projects."""
    services = services_for(runtime)
    LessonsHandlers(
        services.suggester,
        services.seeder,
        services.capturer,
        runtime.jira_for,
        report_only=runtime.jira is None,
    ).register(runtime.dispatcher)
