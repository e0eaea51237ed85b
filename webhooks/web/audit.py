"""The policy audit log as the pages read it: a Protocol, and an adapter over the policy package.

The audit table belongs to the policy area; the pages only read it through its Python API.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class AuditRow:
    """One decision or action as the audit page lists it."""

    at: str
    event: str
    issue_key: str
    project: str
    actor: str
    rule: str
    outcome: str
    reasons: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()


@dataclass(frozen=True)
class OutcomeCount:
    """How many decisions of one outcome a rule made on one project on one day."""

    day: str
    project: str
    rule: str
    outcome: str
    count: int


class AuditSource(Protocol):
    def entries(
        self,
        *,
        issue: str | None = None,
        rule: str | None = None,
        project: str | None = None,
        since: str | None = None,
        limit: int = 200,
    ) -> Sequence[AuditRow]: ...

    def outcome_counts(self, *, since: str | None = None) -> Sequence[OutcomeCount]: ...


def audit_source_for(db: str | Path) -> AuditSource | None:
    """The policy area's audit log in `db`, or None while that area provides none."""
    try:
        from webhooks.web.audit_policy import PolicyAuditSource
    except ImportError:
        return None
    return PolicyAuditSource(db)
