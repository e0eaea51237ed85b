"""The dispatcher handler: evaluate the policy for each issue event, act, and audit.

Registered for `jira:issue_created` and `jira:issue_updated`. An event on a sub-task also
re-evaluates its parent (finishing a review lifts the parent's flag). Hindsight's own changes are
skipped, so its reverts, comments and sub-tasks cause no loop.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from kb.clock import Clock
from plugin.audit import AuditLog
from plugin.dispatch import HandlerResult
from plugin.events import JiraEvent
from plugin.jira.errors import JiraApiError
from plugin.jira.port import ChangeItem, Issue, JiraPort, User
from plugin.policy.decision import PolicyDecision, Trigger
from plugin.policy.engine import PolicyEngine
from plugin.policy.loader import PolicyError, PolicyProblem, load_policy
from plugin.policy.model import Policy

log = logging.getLogger(__name__)
EVENT_TYPES = ("jira:issue_created", "jira:issue_updated")
# How many of an issue's newest audit entries a delivery's re-run reads for its own earlier rows.
RECENT_ENTRIES = 100


class PolicySource:
    """The policy in force: read from its file, and read again when the file changes.

    A broken file raises `PolicyError` on every use until it is fixed: deliveries then fail
    loudly (and are retried or parked for replay) instead of being judged by a stale policy.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._stamp: tuple[float, int] | None = None
        self._lock = threading.Lock()  # workers share the source
        self._policy = Policy(version=1) if path is None else None
        if path is not None:
            self.get()  # refuse to start on a broken policy

    def get(self) -> Policy:
        if self.path is None:
            assert self._policy is not None
            return self._policy
        with self._lock:
            try:
                stat = self.path.stat()
            except OSError as exc:
                raise PolicyError(
                    [PolicyProblem(str(self.path), None, "", f"cannot read it: {exc.strerror}")]
                ) from exc
            stamp = (stat.st_mtime_ns, stat.st_size)
            if self._policy is None or stamp != self._stamp:
                policy = load_policy(self.path)
                self._policy, self._stamp = policy, stamp
                log.info("policy loaded from %s: %d rule(s)", self.path, len(policy.rules))
            return self._policy


class PolicyHandler:
    """Judges the event's issue against the policy; writes through the port in enforce mode."""

    def __init__(
        self,
        source: PolicySource,
        jira_for: Callable[[JiraEvent], JiraPort],
        audit: AuditLog,
        *,
        clock: Clock | None = None,
        service_account: Callable[[], User | None] = lambda: None,
        report_only: bool = False,
        offline: Callable[[], bool] = lambda: False,
    ) -> None:
        self.source = source
        self.offline = offline  # True when no Jira is configured: judge the event's snapshot
        self.jira_for = jira_for
        self.audit = audit
        self.clock = clock
        self.service_account = service_account
        self.report_only = report_only

    def __call__(self, event: JiraEvent, delivery_key: str) -> HandlerResult:
        if event.issue_key is None:
            return HandlerResult("no-op", "the event names no issue")
        me = self.service_account()
        if me is not None and me.same_as(event.actor):
            return HandlerResult("skipped", "Hindsight's own change")
        policy = self.source.get()
        if not policy.rules:
            return HandlerResult("no-op", "the policy has no rules")
        jira = self.jira_for(event)
        engine = PolicyEngine(
            policy, jira, clock=self.clock, report_only=self.report_only, offline=self.offline()
        )
        trigger = Trigger(event.webhook_event, delivery_key, event.actor, event.status_change)
        try:
            issue = jira.get_issue(event.issue_key)
        except JiraApiError as exc:
            if exc.status == 404:  # deleted since, or never visible to Hindsight
                return HandlerResult("skipped", f"{event.issue_key} no longer exists")
            raise
        moved_back = event.issue is not None and moved_back_by(me, issue, event.status_change)
        if moved_back:
            # An earlier attempt at this delivery reverted the move, then its worker died
            # before the audit record: judge the move as it was (the status the delivery's
            # snapshot shows), so the decision is recorded; every action finds itself done.
            assert event.issue is not None
            issue = replace(issue, status=event.issue.status)
        decisions = engine.evaluate_issue(issue, trigger, moved_back=moved_back)
        if issue.parent and not engine.offline:
            parent_trigger = Trigger(event.webhook_event, delivery_key, event.actor, None)
            parent = engine.evaluate(issue.parent, parent_trigger)
            self._record(issue.parent, [d for d in parent if d.noteworthy], parent_trigger)
            decisions += parent
        self._record(
            issue.key, [d for d in decisions if d.noteworthy and d.issue_key == issue.key], trigger
        )
        return summarise(decisions)

    def _record(self, issue_key: str, decisions: list[PolicyDecision], trigger: Trigger) -> None:
        """Audit `decisions` once per delivery: a re-run of a delivery whose worker died after
        its audit record (before the delivery was marked done) records nothing twice. The
        earlier attempt's rows are among the issue's newest, read by its index."""
        if not decisions:
            return
        recorded = {
            entry.rule
            for entry in self.audit.query(issue=issue_key, limit=RECENT_ENTRIES)
            if entry.delivery == trigger.delivery_key
        }
        self.audit.record([d for d in decisions if d.rule not in recorded], trigger)


def moved_back_by(me: User | None, issue: Issue, change: ChangeItem | None) -> bool:
    """Did `me` (Hindsight) move `issue` back from where `change` took it, as the latest status
    change? Then the move is not stale: an earlier attempt at the same delivery reverted it."""
    if me is None or change is None or not change.is_status:
        return False
    if issue.status.id != change.from_value:
        return False
    for entry in issue.history_newest_first():
        status = next((item for item in entry.items if item.is_status), None)
        if status is not None:
            return (
                me.same_as(entry.author)
                and status.from_value == change.to_value
                and status.to_value == change.from_value
            )
    return False


def summarise(decisions: list[PolicyDecision]) -> HandlerResult:
    """The handler's outcome for the delivery log: acted, reported, or nothing to do."""
    noteworthy = [d for d in decisions if d.noteworthy]
    data = {
        "decisions": [
            {"issue": d.issue_key, "rule": d.rule, "status": d.status, "mode": d.mode}
            for d in noteworthy
        ]
    }
    acted = any(a.result == "done" for d in decisions for a in d.actions)
    failed = [d for d in noteworthy if d.status in ("fail", "error")]
    detail = "; ".join(f"{d.issue_key} {d.rule}: {d.status}" for d in noteworthy)
    if acted:
        return HandlerResult("acted", detail, data)
    if failed or noteworthy:
        return HandlerResult("reported", detail, data)
    return HandlerResult("no-op", "no rule applied", data)
