"""The policy audit log as the pages read it: row types, a Protocol, and the real source.

The audit table belongs to the policy area; the pages read it only through `plugin.audit.AuditLog`.
Tests of the pages pass their own `AuditSource`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from plugin.audit import AuditEntry, AuditLog


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


def _project(issue_key: str) -> str:
    return issue_key.rsplit("-", 1)[0] if "-" in issue_key else ""


def _row(entry: AuditEntry) -> AuditRow:
    return AuditRow(
        at=entry.at[:19].replace("T", " "),
        event=entry.event,
        issue_key=entry.issue_key,
        project=_project(entry.issue_key),
        actor=entry.actor or "",
        rule=entry.rule,
        outcome=entry.outcome,
        reasons=tuple(entry.reasons),
        actions=tuple(
            f"{a.get('kind', '?')}: {a.get('detail', '')} [{a.get('result', '')}]"
            for a in entry.actions
        ),
    )


class PolicyAuditSource:
    """Audit rows newest first, and decision counts by day, project, rule and outcome."""

    def __init__(self, db: str | Path) -> None:
        self.log = AuditLog(db)

    def entries(
        self,
        *,
        issue: str | None = None,
        rule: str | None = None,
        project: str | None = None,
        since: str | None = None,
        limit: int = 200,
    ) -> Sequence[AuditRow]:
        found = self.log.query(
            issue=issue, rule=rule, since=since, limit=None if project else limit
        )
        rows = [_row(e) for e in reversed(found)]
        if project:
            rows = [r for r in rows if r.project.upper() == project.upper()][:limit]
        return rows

    def outcome_counts(self, *, since: str | None = None) -> Sequence[OutcomeCount]:
        counts = Counter(
            (e.at[:10], _project(e.issue_key), e.rule, e.outcome)
            for e in self.log.query(since=since)
        )
        return [OutcomeCount(*key, count) for key, count in sorted(counts.items())]
