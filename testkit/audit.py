"""An audit source for the lessons pages' tests: rows held in memory."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from webhooks.web.audit import AuditRows


@dataclass
class FakeAudit:
    """An audit source holding rows in memory."""

    rows: list[Any] = field(default_factory=list)
    counts: list[Any] = field(default_factory=list)

    def entries(
        self,
        *,
        issue=None,
        rule=None,
        project=None,
        outcome=None,
        since=None,
        before=None,
        limit=200,
    ):
        found = [
            row
            for row in self.rows
            if (issue is None or row.issue_key == issue)
            and (rule is None or row.rule == rule)
            and (project is None or row.project == project)
            and (outcome is None or row.outcome == outcome)
            and (since is None or row.at >= since)
            and (before is None or row.id < before)
        ]
        older = found[limit - 1].id if len(found) > limit else None
        return AuditRows(found[:limit], older, len(found))

    def outcome_counts(self, *, since):
        return [c for c in self.counts if c.day >= since]
