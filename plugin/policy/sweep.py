"""`hindsight sweep`: flag risks whose review date passed, and re-judge recently updated issues.

Run from cron or a systemd timer. The second half is the backstop for deliveries Jira dropped
(Data Center queues overflow; Cloud gives up after a few tries): each recently updated issue in
the policy's projects is judged on its latest status change, exactly as its webhook would have
been. Both halves are idempotent, so running the sweep often is harmless.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from kb.clock import SYSTEM_CLOCK, Clock
from plugin.jira.errors import JiraApiError
from plugin.jira.port import ChangeItem, Issue, JiraPort
from plugin.policy.actions import ActionRunner, drop_label, ensure_label, marker, upsert_comment
from plugin.policy.decision import PolicyDecision, Trigger
from plugin.policy.engine import PolicyEngine
from plugin.policy.fields import FieldResolver, texts
from plugin.policy.model import Policy, RiskReviewRule, Scope
from plugin.policy.predicates import out_of_scope
from plugin.policy.reasons import NextReview, Reason, ReviewDateNotPassed, ReviewOverdue
from plugin.policy.render import overdue_review_comment


@dataclass
class SweepResult:
    """Every decision the sweep made, with the trigger it was made under (for the audit)."""

    decisions: list[tuple[Trigger, PolicyDecision]] = field(default_factory=list)
    issues_checked: int = 0


def run_sweep(
    policy: Policy,
    jira: JiraPort,
    *,
    clock: Clock | None = None,
    report_only: bool = False,
    run_id: str = "",
) -> SweepResult:
    clock = clock or SYSTEM_CLOCK
    result = SweepResult()
    engine = PolicyEngine(policy, jira, clock=clock, report_only=report_only)
    run_id = run_id or f"sweep:{clock.now().isoformat(timespec='seconds')}"
    for rule in policy.rules:
        if isinstance(rule, RiskReviewRule) and rule.next_review_field:
            _overdue_reviews(policy, rule, engine, result, run_id)
    since = clock.now() - timedelta(minutes=policy.sweep.recent_minutes)
    # JQL reads dates in the searching account's time zone (UTC-12..UTC+14): ask wide enough
    # for any of them, then keep only what was really updated since then.
    widest = since - timedelta(hours=14)
    jql = _and(_projects_clause(policy), f'updated >= "{widest.strftime("%Y-%m-%d %H:%M")}"')
    for found in jira.search(jql):
        updated = _timestamp(found.updated)
        if updated is not None and updated < since:
            continue
        result.issues_checked += 1
        issue = jira.get_issue(found.key)  # search results may lack comments and changelog
        change = last_status_change(issue)
        trigger = Trigger("sweep", run_id, None, change)
        for decision in engine.evaluate_issue(issue, trigger):
            result.decisions.append((trigger, decision))
    return result


def _overdue_reviews(
    policy: Policy, rule: RiskReviewRule, engine: PolicyEngine, result: SweepResult, run_id: str
) -> None:
    """Open issues in the rule's scope whose next review date is before today: flag them."""
    assert rule.next_review_field is not None
    fields: FieldResolver = engine.fields
    today = engine.clock.now().date()
    mode = "report-only" if engine.report_only else policy.mode_of(rule)
    trigger = Trigger("sweep", run_id)
    jql = _and(_scope_clause(rule.scope), "statusCategory != Done")
    for issue in engine.jira.search(jql):
        if issue.issuetype.subtask or out_of_scope(rule.scope, issue, fields):
            continue
        result.issues_checked += 1
        runner = ActionRunner(engine.jira, enforce=mode == "enforce", offline=engine.offline)
        due = _date(fields.value(issue, rule.next_review_field))
        mark = marker(rule.name, "overdue")
        headline: Reason
        if due is not None and due < today:
            issue = engine.jira.get_issue(issue.key)  # with its comments, to edit ours
            body = overdue_review_comment(rule.name, due.isoformat(), rule.next_review_field)
            try:
                upsert_comment(runner, issue, mark, body)
                ensure_label(runner, issue, rule.overdue_label)
            except JiraApiError as exc:
                if exc.retryable:
                    raise
                runner.note("comment", "flag the overdue review", f"failed: {exc}")
            status, headline = "fail", ReviewOverdue(due)
        else:
            drop_label(runner, issue, rule.overdue_label)
            status, headline = "pass", ReviewDateNotPassed()
        decision = PolicyDecision(
            rule=rule.name, kind=rule.kind, issue_key=issue.key, mode=mode, status=status,
            headline=headline, reasons=(NextReview(due),),
            actions=tuple(runner.records),
        )  # fmt: skip
        result.decisions.append((trigger, decision))


def last_status_change(issue: Issue) -> ChangeItem | None:
    """The latest status change in the issue's changelog (None if it never moved)."""
    for entry in issue.history_newest_first():
        for item in entry.items:
            if item.is_status:
                return item
    return None


def _timestamp(text: str) -> datetime | None:
    """Jira's `2026-03-02T09:00:00.000+0000` (None when absent or unreadable)."""
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")
    except ValueError:
        return None


def _date(value: object) -> date | None:
    for text in texts(value):
        try:
            return date.fromisoformat(text[:10])
        except ValueError:
            continue
    return None


def jql_quote(value: str) -> str:
    """`value` as a JQL string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _scope_clause(scope: Scope) -> str:
    parts = []
    if scope.projects:
        parts.append(f"project in ({', '.join(jql_quote(p) for p in scope.projects)})")
    if scope.issue_types:
        parts.append(f"issuetype in ({', '.join(jql_quote(t) for t in scope.issue_types)})")
    return " AND ".join(parts)


def _projects_clause(policy: Policy) -> str:
    """Projects of every rule, when every rule names its projects (else: all projects)."""
    projects: list[str] = []
    for rule in policy.rules:
        if not rule.scope.projects:
            return ""
        projects += [p for p in rule.scope.projects if p not in projects]
    return f"project in ({', '.join(jql_quote(p) for p in projects)})" if projects else ""


def _and(*clauses: str) -> str:
    return " AND ".join(c for c in clauses if c)
