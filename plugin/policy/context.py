"""What one rule's evaluation works with, as one object instead of six arguments.

`PolicyEnvironment` holds what the whole engine shares (the policy, Jira, field names, the clock),
`IssueEvaluation` what the rules of one evaluation share (the issue as judged, its re-read state,
what was already done to it), and `RuleContext` adds one rule, the event and how to act on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

from kb.clock import Clock
from plugin.jira.port import ChangeItem, Issue, JiraPort
from plugin.policy.actions import ActionRunner
from plugin.policy.decision import DecisionStatus, PolicyDecision, Trigger
from plugin.policy.fields import FieldResolver
from plugin.policy.model import AnyRule, Policy
from plugin.policy.predicates import guarded_move
from plugin.policy.reasons import ExemptionApplied, Reason

R = TypeVar("R", bound=AnyRule)


@dataclass(frozen=True)
class PolicyEnvironment:
    """What every rule of every evaluation shares: the policy and the outside world."""

    policy: Policy
    jira: JiraPort
    fields: FieldResolver
    clock: Clock
    offline: bool  # no Jira, only the delivery's snapshot: the way back cannot be looked up


@dataclass
class IssueEvaluation:
    """State shared by the rules of one evaluation: the issue as judged, and what was done."""

    issue: Issue  # the state the trigger is judged on
    fresh: Issue  # re-read after a rule wrote, so later rules look before they write
    reverted_by: str | None = None  # who moved the issue back: "rule X", "an earlier attempt"
    labelled: set[str] = field(default_factory=set)  # labels added (or planned) so far


@dataclass(frozen=True)
class RuleContext(Generic[R]):
    """One rule judged on one event: the rule, the issue, the trigger, and how to act."""

    env: PolicyEnvironment
    evaluation: IssueEvaluation
    rule: R
    trigger: Trigger
    runner: ActionRunner  # makes (enforce) or plans (report-only) the writes, and records them
    mode: str  # enforce | report-only, as the decision reports it
    act: bool  # False: judge only, plan nothing (backtests)

    @property
    def issue(self) -> Issue:
        return self.evaluation.issue

    @property
    def change(self) -> ChangeItem | None:
        """The status move the trigger carries, if any."""
        return self.trigger.status_change

    @property
    def stale(self) -> bool:
        """The event moved the issue somewhere it no longer is: judge the current state instead."""
        change = self.change
        return change is not None and change.is_status and change.to_value != self.issue.status.id

    @property
    def guarded(self) -> bool:
        """The event moved the issue into a status the rule guards, and it is still there."""
        return guarded_move(self.rule.guard, self.change, self.issue) and not self.stale

    def decide(
        self,
        status: DecisionStatus,
        headline: Reason,
        reasons: list[Reason] | None = None,
        *,
        exemption: ExemptionApplied | None = None,
        change_type: str | None = None,
        guarded: bool = False,
    ) -> PolicyDecision:
        """This rule's decision on the issue, with the actions recorded so far."""
        return PolicyDecision(
            rule=self.rule.name,
            kind=self.rule.kind,
            issue_key=self.issue.key,
            mode=self.mode,
            status=status,
            headline=headline,
            reasons=tuple(reasons or ()),
            actions=tuple(self.runner.records),
            exemption=exemption,
            change_type=change_type,
            guarded=guarded,
        )
