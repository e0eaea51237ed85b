"""The verdict on a guarded move, shared by every rule kind: pass, exempt, or fail and enforce.

Enforcing is: one comment saying what is missing, the violation label, then the move back (or a
flag when there is no way back, the guard says not to, or Jira refuses it). A later pass edits
the comment and takes the label and flag away.
"""

from __future__ import annotations

from plugin.jira.port import ChangeItem, Issue, Transition
from plugin.policy.actions import (
    drop_label,
    ensure_label,
    find_marked_comment,
    flag_blocker,
    marker,
    revert_fields,
    set_flag,
    upsert_comment,
    way_back,
)
from plugin.policy.context import RuleContext
from plugin.policy.decision import PolicyDecision
from plugin.policy.model import AnyRule
from plugin.policy.predicates import find_exemption
from plugin.policy.reasons import (
    Reason,
    RequirementsMet,
    RequirementsUnmet,
    RevertImpossible,
    Unmet,
    Waived,
)
from plugin.policy.render import requirements_met_comment, text, violation_comment


def verdict(
    ctx: RuleContext[AnyRule],
    missing: list[Unmet],
    reasons: list[Reason],
    change_type: str | None = None,
) -> PolicyDecision:
    """Pass (tidying an earlier complaint away), exempt, or fail and enforce."""
    issue, change = ctx.issue, ctx.change
    assert change is not None  # only guarded moves reach a verdict
    target = change.to_string or issue.status.name
    if not missing:
        if ctx.act:
            _tidy_after_pass(ctx, target)
        met = RequirementsMet(target)
        return ctx.decide("pass", met, reasons, change_type=change_type, guarded=True)
    exemption, notes = find_exemption(ctx.rule.exemptions, issue, ctx.env.jira)
    reasons = reasons + notes
    if exemption is not None:
        return ctx.decide(
            "skipped",
            exemption,
            reasons + [Waived(m) for m in missing],
            exemption=exemption,
            change_type=change_type,
            guarded=True,
        )
    if ctx.act:
        _enforce(ctx, change, missing)
    unmet = RequirementsUnmet(target, len(missing))
    return ctx.decide("fail", unmet, reasons + missing, change_type=change_type, guarded=True)


def _enforce(ctx: RuleContext[AnyRule], change: ChangeItem, missing: list[Unmet]) -> None:
    """Comment, label, then move the issue back (or flag it when there is no way back)."""
    rule, ev, runner, env = ctx.rule, ctx.evaluation, ctx.runner, ctx.env
    jira, fields, policy = env.jira, env.fields, env.policy
    issue = ev.fresh
    back: Transition | None = None
    impossible: RevertImpossible | None = None
    moving = f"move {issue.key} back to {change.from_string}"
    if ev.reverted_by:
        runner.note("revert", f"already moved back by {ev.reverted_by}", "unchanged")
    elif not rule.guard.revert:
        impossible = RevertImpossible("guard")
        runner.note("revert", moving, "not attempted: the rule's guard says revert: false")
    else:
        if env.offline:
            # no Jira: the workflow's way back cannot be looked up; plan the move by name
            runner.note(
                "revert",
                moving,
                "planned (the way back is looked up in Jira when it is configured)",
            )
            ev.reverted_by = f"rule {rule.name}"
        else:
            back = way_back(jira.get_transitions(issue.key), change)
        if back is None and ev.reverted_by is None:
            impossible = RevertImpossible("no-way-back", change.from_string, change.to_string)
            runner.note("revert", moving, f"not possible: {text(impossible)}")
    label = policy.label_of(rule)
    defaults = policy.defaults
    unflaggable = flag_blocker(runner, issue, fields, defaults) if impossible else None
    mark = marker(rule.name)
    upsert_comment(runner, issue, mark, _comment(ctx, change, missing, impossible, unflaggable))
    if label not in ev.labelled:  # report-only does not re-read: do not plan it twice
        ensure_label(runner, issue, label)
        ev.labelled.add(label)
    if impossible:
        set_flag(runner, issue, fields, defaults, on=True)
        return
    if back is None:
        return
    moved = runner.write(
        "revert",
        f"{moving} via '{back.name}'",
        lambda: jira.transition_issue(issue.key, back.id, revert_fields(back)),
        {"transition": back.id, "to": back.to.id},
    )
    if moved:
        ev.reverted_by = f"rule {rule.name}"
        return
    # Jira refused the way back (a validator, a permission): say so and flag instead.
    refused = RevertImpossible(
        "refused", failure=runner.records[-1].result.removeprefix("failed: ")
    )
    unflaggable = flag_blocker(runner, issue, fields, defaults)
    set_flag(runner, issue, fields, defaults, on=True)
    refreshed = jira.get_issue(issue.key)
    upsert_comment(runner, refreshed, mark, _comment(ctx, change, missing, refused, unflaggable))


def _comment(
    ctx: RuleContext[AnyRule],
    change: ChangeItem,
    missing: list[Unmet],
    impossible: RevertImpossible | None,
    unflaggable: str | None,
) -> str:
    rule = ctx.rule
    return violation_comment(
        rule_name=rule.name,
        description=rule.description,
        label=ctx.env.policy.label_of(rule),
        moved_to=change.to_string,
        moved_from=change.from_string,
        missing=missing,
        impossible=impossible,
        unflaggable=unflaggable,
        flagged_marker=marker(rule.name, "flagged"),
    )


def _tidy_after_pass(ctx: RuleContext[AnyRule], target: str) -> None:
    """After an earlier violation: update our comment, drop our label and flag."""
    rule, runner, policy = ctx.rule, ctx.runner, ctx.env.policy
    issue: Issue = ctx.evaluation.fresh
    mark = marker(rule.name)
    existing = find_marked_comment(issue, mark)
    if existing is None:
        return
    upsert_comment(runner, issue, mark, requirements_met_comment(rule.name, target))
    drop_label(runner, issue, policy.label_of(rule))
    if marker(rule.name, "flagged") in existing.markers:
        set_flag(runner, issue, ctx.env.fields, policy.defaults, on=False)
