"""The policy engine: judge an issue's current state against every rule, and act on violations.

It sees Jira only through `JiraPort`. It re-reads the issue, so duplicate, late and out-of-order
events are harmless: a move the issue has since left is stale and judged by later events, and
every action looks at the current state before writing. Each rule is judged by the evaluator
registered for its kind (`plugin.policy.evaluators`) and yields a `PolicyDecision`.
"""

from __future__ import annotations

from kb.clock import SYSTEM_CLOCK, Clock
from plugin.jira.errors import JiraApiError, JiraNotConfigured
from plugin.jira.port import Issue, JiraPort
from plugin.policy.actions import ActionRunner
from plugin.policy.context import IssueEvaluation, PolicyEnvironment, RuleContext
from plugin.policy.decision import PolicyDecision, Trigger
from plugin.policy.evaluators import evaluator_for
from plugin.policy.fields import FieldResolver, UnknownField
from plugin.policy.model import Policy
from plugin.policy.predicates import out_of_scope
from plugin.policy.reasons import CouldNotEvaluate, EvaluationError


class PolicyEngine:
    """Evaluates a policy for one issue at a time; `report_only` forces every rule to plan only."""

    def __init__(
        self,
        policy: Policy,
        jira: JiraPort,
        *,
        clock: Clock | None = None,
        report_only: bool = False,
        offline: bool = False,
    ) -> None:
        self.policy = policy
        self.jira = jira
        self.clock = clock or SYSTEM_CLOCK
        # offline: no Jira, only the delivery's snapshot; implies report-only
        self.offline = offline
        self.report_only = report_only or offline
        self.fields = FieldResolver(jira, policy.fields, offline=offline)
        self.env = PolicyEnvironment(policy, jira, self.fields, self.clock, offline)

    def evaluate(self, issue_key: str, trigger: Trigger) -> list[PolicyDecision]:
        """Re-read `issue_key` and judge it; act on violations in enforce mode."""
        return self.evaluate_issue(self.jira.get_issue(issue_key), trigger)

    def evaluate_issue(
        self, issue: Issue, trigger: Trigger, *, act: bool = True, moved_back: bool = False
    ) -> list[PolicyDecision]:
        """Judge a given issue state. With `act=False` nothing is planned either (backtests).
        `moved_back`: an earlier attempt at the same delivery already reverted the move."""
        evaluation = IssueEvaluation(
            issue=issue, fresh=issue, reverted_by="an earlier attempt" if moved_back else None
        )
        decisions: list[PolicyDecision] = []
        for rule in self.policy.rules:
            mode = "report-only" if self.report_only else self.policy.mode_of(rule)
            runner = ActionRunner(
                self.jira, enforce=act and mode == "enforce", offline=self.offline
            )
            ctx = RuleContext(self.env, evaluation, rule, trigger, runner, mode, act)
            decisions.append(self._judge(ctx))
            if runner.enforce and any(r.result == "done" for r in runner.records):
                evaluation.fresh = self.jira.get_issue(issue.key)
        return decisions

    def _judge(self, ctx: RuleContext) -> PolicyDecision:
        """One rule's decision: out of scope, its evaluator's verdict, or what stopped it."""
        try:
            outside = out_of_scope(ctx.rule.scope, ctx.issue, self.fields)
            if outside:
                return ctx.decide("skipped", outside)
            return evaluator_for(ctx.rule.kind)(ctx)
        except JiraApiError as exc:
            if exc.retryable:
                raise
            return _error(ctx, str(exc))
        except (UnknownField, JiraNotConfigured) as exc:
            return _error(ctx, str(exc))


def _error(ctx: RuleContext, message: str) -> PolicyDecision:
    return ctx.decide("error", CouldNotEvaluate(), [EvaluationError(message)])
