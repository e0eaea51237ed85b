"""The policy audit log as the pages read it: row types, a Protocol, and the real source.

The audit table belongs to the policy area; the pages read it only through `plugin.audit.AuditLog`,
whose queries filter, page and count in SQL. Tests of the pages pass their own `AuditSource`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from plugin.audit import AuditEntry, AuditFilter, AuditLog, OutcomeCount, project_of
from plugin.policy.render import action_text

__all__ = ["AuditRow", "AuditRows", "AuditSource", "OutcomeCount", "PolicyAuditSource"]


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
    id: int = 0


@dataclass(frozen=True)
class AuditRows:
    """One page of rows, newest first; `older` is the `before` of the next page (None: last);
    `total` is how many rows match the filters in all (None: not counted)."""

    rows: Sequence[AuditRow]
    older: int | None = None
    total: int | None = None


class AuditSource(Protocol):
    def entries(
        self,
        *,
        issue: str | None = None,
        rule: str | None = None,
        project: str | None = None,
        outcome: str | None = None,
        since: str | None = None,
        before: int | None = None,
        limit: int = 200,
    ) -> AuditRows: ...

    def outcome_counts(self, *, since: str) -> Sequence[OutcomeCount]: ...


def _row(entry: AuditEntry) -> AuditRow:
    return AuditRow(
        at=entry.at[:19].replace("T", " "),
        event=entry.event,
        issue_key=entry.issue_key,
        project=project_of(entry.issue_key),
        actor=entry.actor or "",
        rule=entry.rule,
        outcome=entry.outcome,
        reasons=tuple(entry.reasons),
        actions=tuple(
            action_text(a.get("kind", "?"), a.get("detail", ""), a.get("result", ""))
            for a in entry.actions
        ),
        id=entry.id,
    )


class PolicyAuditSource:
    """Audit rows newest first, a page at a time, and decision counts, from the audit log."""

    def __init__(self, log: AuditLog) -> None:
        self.log = log

    def entries(
        self,
        *,
        issue: str | None = None,
        rule: str | None = None,
        project: str | None = None,
        outcome: str | None = None,
        since: str | None = None,
        before: int | None = None,
        limit: int = 200,
    ) -> AuditRows:
        where = AuditFilter(issue=issue, rule=rule, project=project, outcome=outcome, since=since)
        page = self.log.page(where, limit=limit, before=before)
        return AuditRows([_row(e) for e in page.entries], page.older, self.log.count(where))

    def outcome_counts(self, *, since: str) -> Sequence[OutcomeCount]:
        return self.log.outcome_counts(since=since)
