"""`hindsight policy backtest`: what a policy would have flagged on past issues (read-only).

Each past status change in an issue's changelog is judged on the issue as it was right after
that change: field, label, priority and status changes made later are undone from the
changelog. Sub-tasks and links are taken as they are now (Jira keeps no history of their state),
and a status's category is learnt from the issues read, so a guard by category may miss a status
no read issue currently sits in; guards by status name are exact.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

from kb.clock import Clock
from plugin.jira.port import ChangeEntry, Issue, JiraPort, Status, StatusCategory
from plugin.policy.decision import PolicyDecision, Trigger
from plugin.policy.engine import PolicyEngine
from plugin.policy.fields import UnknownField
from plugin.policy.model import Policy

_SYSTEM = {"labels", "priority", "resolution", "status", "assignee", "reporter", "summary"}


@dataclass(frozen=True)
class BacktestFinding:
    """One past status change and one rule's verdict on it."""

    issue_key: str
    change_id: str
    when: str
    actor: str
    moved: str  # "In Progress -> Done"
    decision: PolicyDecision

    def to_dict(self) -> dict:
        return {
            "issue": self.issue_key,
            "change": self.change_id,
            "when": self.when,
            "actor": self.actor,
            "moved": self.moved,
            **{k: v for k, v in self.decision.to_dict().items() if k not in ("issue", "actions")},
        }


def run_backtest(
    policy: Policy,
    jira: JiraPort,
    jql: str,
    *,
    clock: Clock | None = None,
    limit: int | None = None,
) -> Iterator[BacktestFinding]:
    """Findings for every guarded status change of the issues `jql` selects (at most `limit`)."""
    engine = PolicyEngine(policy, jira, clock=clock, report_only=True)
    categories: dict[str, StatusCategory] = {}
    for count, found in enumerate(jira.search(jql)):
        if limit is not None and count >= limit:
            return
        issue = jira.get_issue(found.key)
        _learn_categories(issue, categories)
        for entry in issue.changelog:
            for item in entry.items:
                if not item.is_status:
                    continue
                state = state_after(issue, entry, categories, engine)
                trigger = Trigger(
                    "backtest", f"backtest:{issue.key}:{entry.id}", entry.author, item
                )
                for decision in engine.evaluate_issue(state, trigger, act=False):
                    if decision.guarded or decision.status == "error":
                        yield BacktestFinding(
                            issue_key=issue.key,
                            change_id=entry.id,
                            when=entry.created,
                            actor=(entry.author.display_name or entry.author.ref)
                            if entry.author
                            else "",
                            moved=f"{item.from_string} -> {item.to_string}",
                            decision=decision,
                        )


def state_after(
    issue: Issue, entry: ChangeEntry, categories: dict[str, StatusCategory], engine: PolicyEngine
) -> Issue:
    """The issue as it was right after changelog `entry`: every later change undone, the latest
    first ("later" by `ChangeEntry.order`, the time of the change)."""
    fields = dict(issue.fields)
    labels, priority, resolution, status = (
        issue.labels,
        issue.priority,
        issue.resolution,
        issue.status,
    )
    later = [e for e in issue.history_newest_first() if e.order > entry.order]
    for undone in later:
        for item in undone.items:
            key = item.field_id or item.field.casefold()
            if item.is_status:
                status = Status(
                    item.from_value or "",
                    item.from_string or "",
                    categories.get(item.from_value or "", "undefined"),
                )
            elif key == "labels":
                labels = tuple((item.from_string or "").split())
            elif key == "priority":
                priority = item.from_string
            elif key == "resolution":
                resolution = item.from_string
            elif key not in _SYSTEM:
                field_id = _field_id(item.field_id, item.field, engine)
                if field_id:
                    fields[field_id] = (
                        item.from_string if item.from_string is not None else item.from_value
                    )
    return replace(
        issue,
        status=status,
        labels=labels,
        priority=priority,
        resolution=resolution,
        fields=fields,
        changelog=tuple(e for e in issue.changelog if e.order <= entry.order),
        comments=(),
    )


def _field_id(field_id: str | None, name: str, engine: PolicyEngine) -> str | None:
    if field_id:
        return field_id
    try:
        return engine.fields.id_of(name)
    except UnknownField:
        return None


def _learn_categories(issue: Issue, categories: dict[str, StatusCategory]) -> None:
    seen = [issue.status] + [ref.status for ref in issue.subtasks if ref.status]
    seen += [link.issue.status for link in issue.links if link.issue.status]
    for status in seen:
        if status.category != "undefined":
            categories.setdefault(status.id, status.category)
