"""The `risk-review` rule kind: a risky issue gets a review sub-task and cannot close without it.

An issue is risky by priority, label, score or likelihood x impact; its review is opened once,
and the guarded move (closing, by default) needs the review done and the rule's requirements.
"""

from __future__ import annotations

from plugin.policy.actions import ensure_subtask, find_subtask
from plugin.policy.context import RuleContext
from plugin.policy.decision import PolicyDecision
from plugin.policy.evaluators.registry import evaluates
from plugin.policy.evaluators.verdict import verdict
from plugin.policy.model import RiskReviewRule
from plugin.policy.predicates import risky_because
from plugin.policy.reasons import (
    NotRisky,
    Reason,
    ReviewNotDone,
    ReviewState,
    Risky,
    RiskyAwaitingReview,
    SubtaskNotAssessed,
)
from plugin.policy.render import risk_signals
from plugin.policy.requirements import missing_items


@evaluates("risk-review")
def risk_review(ctx: RuleContext[RiskReviewRule]) -> PolicyDecision:
    """Open the review of a risky issue; on a guarded move, require it done and the rest met."""
    rule, issue, fresh = ctx.rule, ctx.issue, ctx.evaluation.fresh
    fields = ctx.env.fields
    if issue.issuetype.subtask:
        return ctx.decide("skipped", SubtaskNotAssessed())
    risky = risky_because(rule.risky, issue, fields)
    if not risky:
        return ctx.decide("skipped", NotRisky())
    reasons: list[Reason] = [Risky(tuple(risky))]
    review = find_subtask(fresh, rule.review.summary)
    if review is None:
        state = "opened" if ctx.act else "needed"
        reasons.append(ReviewState("risk", rule.review.summary, state))
        if ctx.act:
            ensure_subtask(
                ctx.runner,
                fresh,
                rule.review,
                rule_name=rule.name,
                clock=ctx.env.clock,
                fields=fields,
                why=risk_signals(risky),
            )
    if not ctx.guarded:
        waiting = RiskyAwaitingReview(None if review is None else review.key)
        return ctx.decide("pass", waiting, reasons)
    missing = missing_items(rule.requires, issue, fields, ctx.env.jira)
    if review is None or review.status is None or review.status.category != "done":
        missing.insert(0, ReviewNotDone(rule.review.summary, review.key if review else None))
    return verdict(ctx, missing, reasons)
