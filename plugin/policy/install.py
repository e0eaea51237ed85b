"""Register the policy handler with a dispatcher (called from `hindsight.wiring`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kb.postgres import PostgresURL
from plugin.audit import open_audit_log
from plugin.dispatch import Dispatcher
from plugin.events import JiraEvent
from plugin.jira.port import JiraPort, User
from plugin.policy.handler import EVENT_TYPES, PolicyHandler, PolicySource


@dataclass(frozen=True)
class PolicyOptions:
    """What the policy area reads from the settings."""

    policy_file: Path | None  # None: no rules, every event is a no-op
    report_only: bool  # judge and audit every rule, write nothing to Jira
    audit_db: Path | PostgresURL  # where the audit log lives (HINDSIGHT_DB)


def install(
    dispatcher: Dispatcher,
    options: PolicyOptions,
    jira_for: Callable[[JiraEvent], JiraPort],
    *,
    service_account: Callable[[], User | None],
    offline: bool,
) -> None:
    """Load the policy (refusing a broken one now, not at the first event) and register.

    `offline` says no Jira is configured: the engine judges the event's own issue snapshot.
    """
    handler = PolicyHandler(
        PolicySource(options.policy_file),
        jira_for,
        open_audit_log(options.audit_db),
        service_account=service_account,
        report_only=options.report_only,
        offline=lambda: offline,
    )
    dispatcher.register(EVENT_TYPES, "policy", handler)
