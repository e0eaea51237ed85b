"""Register the policy handler with the runtime's dispatcher (called from hindsight.wiring)."""

from __future__ import annotations

from typing import Any

from plugin.audit import SQLiteAuditLog
from plugin.policy.handler import EVENT_TYPES, PolicyHandler, PolicySource


def install(runtime: Any) -> None:
    """Load the policy (refusing a broken one now, not at the first event) and register.

    `runtime` is `hindsight.wiring.Runtime` (typed loosely: plugin does not import hindsight).
    """
    settings = runtime.settings
    source = PolicySource(settings.policy_file)
    handler = PolicyHandler(
        source,
        runtime.jira_for,
        SQLiteAuditLog(runtime.db_path),
        service_account=lambda: runtime.service_account,
        report_only=settings.policy_report_only,
        offline=lambda: runtime.jira is None,
    )
    runtime.dispatcher.register(EVENT_TYPES, "policy", handler)
