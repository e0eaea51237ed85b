"""Questions the engine asks about an issue: in scope? a guarded move? risky? exempt?"""

from __future__ import annotations

from plugin.jira.port import ChangeEntry, ChangeItem, Issue, JiraPort, User
from plugin.policy.fields import FieldResolver, matches_any, number, user_label
from plugin.policy.model import Exemption, Guard, Risky, Scope
from plugin.policy.reasons import (
    ExemptionApplied,
    ExemptionIgnored,
    LikelihoodTimesImpact,
    OutOfScope,
    PriorityAtLeast,
    RiskSignal,
    RiskyLabel,
    ScoreAtLeast,
)


def _in(value: str | None, allowed: tuple[str, ...]) -> bool:
    return value is not None and value.casefold() in {a.casefold() for a in allowed}


def out_of_scope(scope: Scope, issue: Issue, fields: FieldResolver) -> OutOfScope | None:
    """Why `issue` is outside `scope`, or None when it is inside."""
    if scope.projects and not _in(issue.project, scope.projects):
        return OutOfScope("project", issue.project, scope.projects)
    if scope.issue_types and not _in(issue.issuetype.name, scope.issue_types):
        return OutOfScope("issue type", issue.issuetype.name, scope.issue_types)
    labels = {label.casefold() for label in issue.labels}
    if scope.labels and not labels & {label.casefold() for label in scope.labels}:
        return OutOfScope("labels", None, scope.labels)
    excluded = [label for label in scope.exclude_labels if label.casefold() in labels]
    if excluded:
        return OutOfScope("excluded label", excluded[0], scope.exclude_labels)
    if scope.priorities and not _in(issue.priority, scope.priorities):
        return OutOfScope("priority", issue.priority, scope.priorities)
    if scope.components and not any(_in(c, scope.components) for c in issue.components):
        return OutOfScope("components", None, scope.components)
    if scope.statuses and not (
        _in(issue.status.name, scope.statuses) or issue.status.id in scope.statuses
    ):
        return OutOfScope("status", issue.status.name, scope.statuses)
    if scope.status_categories and issue.status.category not in scope.status_categories:
        return OutOfScope("status category", issue.status.category, scope.status_categories)
    for name, allowed in scope.fields.items():
        if not matches_any(fields.value(issue, name), allowed):
            return OutOfScope("field", None, tuple(allowed), field=name)
    return None


def guarded_move(guard: Guard, change: ChangeItem | None, issue: Issue) -> bool:
    """Did `change` move the issue into a status the guard names (by name, id or category)?

    The target's category is known only when the issue still sits in that status; a stale event
    (issue moved on since) is caught separately by the engine.
    """
    if change is None or not change.is_status:
        return False
    if change.to_value in guard.statuses or _in(change.to_string, guard.statuses):
        return True
    return bool(
        guard.categories
        and change.to_value == issue.status.id
        and issue.status.category in guard.categories
    )


def risky_because(risky: Risky, issue: Issue, fields: FieldResolver) -> list[RiskSignal]:
    """The reasons `issue` is risky under `risky` (empty: not risky)."""
    reasons: list[RiskSignal] = []
    order = [p.casefold() for p in risky.priority_order]
    level = issue.priority.casefold() if issue.priority else None
    threshold = risky.priority_at_least
    if threshold and level in order and order.index(level) >= order.index(threshold.casefold()):
        reasons.append(PriorityAtLeast(str(issue.priority), threshold))
    labels = [label for label in issue.labels if _in(label, risky.labels)]
    if labels:
        reasons.append(RiskyLabel(labels[0]))
    if risky.score:
        score = number(fields.value(issue, risky.score.field))
        if score is not None and score >= risky.score.at_least:
            reasons.append(ScoreAtLeast(risky.score.field, score, risky.score.at_least))
    if risky.likelihood_impact:
        spec = risky.likelihood_impact
        likelihood = number(fields.value(issue, spec.likelihood))
        impact = number(fields.value(issue, spec.impact))
        if likelihood is not None and impact is not None:
            product = likelihood * impact
            if product >= spec.at_least:
                reasons.append(
                    LikelihoodTimesImpact(
                        spec.likelihood, spec.impact, likelihood, impact, spec.at_least
                    )
                )
    return reasons


def who_added_label(issue: Issue, label: str) -> tuple[User | None, ChangeEntry | None]:
    """The author of the latest changelog entry that added `label` (None if not recorded)."""
    wanted = label.casefold()
    for entry in issue.history_newest_first():
        for item in entry.items:
            if (item.field_id or item.field.casefold()) != "labels":
                continue
            before = {t.casefold() for t in (item.from_string or "").split()}
            after = {t.casefold() for t in (item.to_string or "").split()}
            if wanted in after and wanted not in before:
                return entry.author, entry
    return None, None


def find_exemption(
    exemptions: tuple[Exemption, ...], issue: Issue, jira: JiraPort
) -> tuple[ExemptionApplied | None, list[ExemptionIgnored]]:
    """The exemption that applies to `issue`, and the labels present but not honoured."""
    notes: list[ExemptionIgnored] = []
    labels = {label.casefold() for label in issue.labels}
    for exemption in exemptions:
        if exemption.label.casefold() not in labels:
            continue
        author, _ = who_added_label(issue, exemption.label)
        who = user_label(author)
        if exemption.group is None:
            return ExemptionApplied(exemption.label, who, exemption.reason), notes
        if author is None:
            notes.append(ExemptionIgnored(exemption.label, exemption.group, None))
            continue
        if exemption.group.casefold() in {g.casefold() for g in jira.user_groups(author)}:
            applied = ExemptionApplied(exemption.label, who, exemption.reason, exemption.group)
            return applied, notes
        notes.append(ExemptionIgnored(exemption.label, exemption.group, who))
    return None, notes
