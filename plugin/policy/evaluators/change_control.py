"""The `change-control` rule kind: a guarded move needs the requirements of the change's type.

The change type (standard, normal, emergency) is read from a field; an emergency change goes
through and gets a post-implementation review, flagged and labelled until that review is done.
"""

from __future__ import annotations

from plugin.policy.actions import drop_label, ensure_label, ensure_subtask, find_subtask, set_flag
from plugin.policy.context import RuleContext
from plugin.policy.decision import PolicyDecision
from plugin.policy.evaluators.registry import evaluates
from plugin.policy.evaluators.verdict import verdict
from plugin.policy.fields import matches_any
from plugin.policy.model import ChangeControlRule, EmergencySpec, Requirements
from plugin.policy.reasons import (
    EmergencyAllowed,
    EmergencyChange,
    EmergencyNotGuarded,
    NotGuarded,
    Reason,
    ReviewState,
    StaleEvent,
)
from plugin.policy.render import EMERGENCY_REVIEW_WHY
from plugin.policy.requirements import missing_items


@evaluates("change-control")
def change_control(ctx: RuleContext[ChangeControlRule]) -> PolicyDecision:
    """Judge a move against its change type's requirements; let emergencies through."""
    issue, change = ctx.issue, ctx.change
    change_type, requirements, emergency = _change_type(ctx)
    guarded = ctx.guarded
    if emergency is not None:
        if guarded or find_subtask(issue, emergency.review.summary) is not None:
            return _emergency(ctx, emergency, guarded)
        return ctx.decide("skipped", EmergencyNotGuarded(), change_type=change_type)
    if change is not None and ctx.stale:
        stale = StaleEvent(change.to_string, issue.status.name)
        return ctx.decide("skipped", stale, change_type=change_type)
    if not guarded:
        return ctx.decide("skipped", NotGuarded(), change_type=change_type)
    missing = missing_items(requirements, issue, ctx.env.fields, ctx.env.jira)
    return verdict(ctx, missing, [], change_type)


def _change_type(
    ctx: RuleContext[ChangeControlRule],
) -> tuple[str | None, Requirements, EmergencySpec | None]:
    """The change's type, the requirements it brings, and its emergency spec (if emergency)."""
    rule = ctx.rule
    types = rule.change_types
    if types is None:
        assert rule.requires is not None  # the model guarantees one of the two
        return None, rule.requires, None
    value = ctx.env.fields.value(ctx.issue, types.field)
    chosen = types.default
    for name in types.declared:
        spec = getattr(types, name)
        if matches_any(value, spec.values):
            chosen = name
            break
    spec = getattr(types, chosen)
    if chosen == "emergency":
        return chosen, Requirements(), spec
    return chosen, spec.requires, None


def _emergency(
    ctx: RuleContext[ChangeControlRule], spec: EmergencySpec, guarded: bool
) -> PolicyDecision:
    """Let an emergency change through; open its review and flag it until that is done."""
    runner, fields, defaults = ctx.runner, ctx.env.fields, ctx.env.policy.defaults
    task, issue = spec.review, ctx.evaluation.fresh
    review = find_subtask(issue, task.summary)
    reasons: list[Reason] = [EmergencyChange()]
    if review is None:
        state = "opened" if ctx.act else "needed"
        reasons.append(ReviewState("post-implementation", task.summary, state))
        if ctx.act:
            ensure_subtask(
                runner,
                issue,
                task,
                rule_name=ctx.rule.name,
                clock=ctx.env.clock,
                fields=fields,
                why=EMERGENCY_REVIEW_WHY,
            )
        still_open = True
    else:
        still_open = review.status is None or review.status.category != "done"
        now = "open" if still_open else "done"
        reasons.append(ReviewState("post-implementation", task.summary, now, review.key))
    if ctx.act:
        if task.label:
            (ensure_label if still_open else drop_label)(runner, issue, task.label)
        if task.flag:
            set_flag(runner, issue, fields, defaults, on=still_open)
    allowed = EmergencyAllowed(review_open=still_open)
    return ctx.decide("pass", allowed, reasons, change_type="emergency", guarded=guarded)
