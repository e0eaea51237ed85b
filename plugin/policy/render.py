"""The one place policy findings become words: Jira comments, terminal lines, audit text.

The engine returns data (`plugin.policy.reasons`); everything a person reads about a decision is
worded here, by one registered wording per finding kind, so a comment, `hindsight policy check`,
the audit log and the demo say the same thing the same way. Comments are Jira wiki markup.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import singledispatch
from typing import TYPE_CHECKING

from plugin.policy.reasons import (
    ApprovalAuthorUnknown,
    ApprovalByNonMember,
    ApprovalMissing,
    ApprovalUncheckable,
    CouldNotEvaluate,
    EmergencyAllowed,
    EmergencyChange,
    EmergencyNotGuarded,
    EvaluationError,
    ExemptionApplied,
    ExemptionIgnored,
    FieldEmpty,
    FieldValueNotAllowed,
    LikelihoodTimesImpact,
    NextReview,
    NotGuarded,
    NotRisky,
    OutOfScope,
    PriorityAtLeast,
    Reason,
    RelatedMissing,
    RequirementsMet,
    RequirementsUnmet,
    RevertImpossible,
    ReviewDateNotPassed,
    ReviewNotDone,
    ReviewOverdue,
    ReviewState,
    RiskSignal,
    Risky,
    RiskyAwaitingReview,
    RiskyLabel,
    ScoreAtLeast,
    StaleEvent,
    SubtaskNotAssessed,
    Unmet,
    Waived,
)

if TYPE_CHECKING:
    from plugin.policy.decision import PolicyDecision

EMERGENCY_REVIEW_WHY = "emergency change needs a post-implementation review"


# -- an unmet requirement: what is missing, and what the reader should do -------------------------


@singledispatch
def item(requirement: Unmet) -> str:
    """What is missing, e.g. `'Impact' is empty`."""
    raise TypeError(f"no wording for the requirement {type(requirement).__name__}")


@singledispatch
def fix(requirement: Unmet) -> str:
    """What the reader should do about it, e.g. `fill in 'Impact'`."""
    raise TypeError(f"no fix worded for the requirement {type(requirement).__name__}")


@item.register
def _(r: FieldEmpty) -> str:
    return f"'{r.field}' is empty"


@fix.register
def _(r: FieldEmpty) -> str:
    return f"fill in '{r.field}'"


@item.register
def _(r: FieldValueNotAllowed) -> str:
    return f"'{r.field}' is {', '.join(r.actual) or 'empty'}, not {' or '.join(r.expected)}"


@fix.register
def _(r: FieldValueNotAllowed) -> str:
    return f"set '{r.field}' to {' or '.join(r.expected)}"


@item.register
def _(r: ApprovalMissing) -> str:
    return f"approval: '{r.field}' is not {r.value}"


@item.register
def _(r: ApprovalByNonMember) -> str:
    return (
        f"approval: '{r.field}' was set to {r.value} by {r.by}, who is not a member of '{r.group}'"
    )


@item.register
def _(r: ApprovalAuthorUnknown) -> str:
    return f"approval: the history does not show who set '{r.field}' to {r.value}"


@fix.register(ApprovalMissing)
@fix.register(ApprovalByNonMember)
@fix.register(ApprovalAuthorUnknown)
def _(r: ApprovalMissing | ApprovalByNonMember | ApprovalAuthorUnknown) -> str:
    return f"a member of '{r.group}' sets '{r.field}' to {r.value}"


@item.register
def _(r: ApprovalUncheckable) -> str:
    return f"approval by a member of '{r.group}' cannot be checked without Jira"


@fix.register
def _(r: ApprovalUncheckable) -> str:
    return "run `hindsight policy explain` against Jira to check group membership"


_RELATION = {"link": "linked issue", "subtask": "sub-task"}


@item.register
def _(r: RelatedMissing) -> str:
    what = _RELATION[r.relation]
    words = [f"{r.at_least}"]
    if r.done:
        words.append("done")
    if r.issue_type:
        words.append(r.issue_type)
    words.append(what if r.at_least == 1 else what + "s")
    if r.link:
        words.append(f"('{r.link}')")
    if r.summary:
        words.append(f"named '{r.summary}'")
    return " ".join(words) + f" needed, {r.found} found"


@fix.register
def _(r: RelatedMissing) -> str:
    return f"{'link' if r.relation == 'link' else 'add'} and finish the {_RELATION[r.relation]}"


@item.register
def _(r: ReviewNotDone) -> str:
    name = r.key or f"'{r.summary}'"
    return f"the risk review {name} is not done"


@fix.register
def _(r: ReviewNotDone) -> str:
    return "finish the risk review first"


# -- any finding as one line ---------------------------------------------------------------------


@singledispatch
def text(reason: Reason) -> str:
    """One finding as the line a person reads (a decision's summary or one of its reasons)."""
    raise TypeError(f"no wording for {type(reason).__name__}")


@text.register
def _(r: Unmet) -> str:
    return f"missing: {item(r)} ({fix(r)})"


@text.register
def _(r: Waived) -> str:
    return f"waived: {item(r.requirement)} ({fix(r.requirement)})"


@text.register
def _(r: ExemptionIgnored) -> str:
    if r.by is None:
        return (
            f"label '{r.label}' ignored: the changelog does not say who added it, "
            f"so membership of '{r.group}' cannot be checked"
        )
    return f"label '{r.label}' ignored: added by {r.by}, who is not a member of '{r.group}'"


@text.register
def _(r: EmergencyChange) -> str:
    return "emergency change: allowed through without the normal requirements"


_REVIEW = {"post-implementation": "post-implementation review", "risk": "risk review"}


@text.register
def _(r: ReviewState) -> str:
    if r.state in ("opened", "needed"):
        return f"{_REVIEW[r.review]} '{r.summary}' {r.state}"
    return f"{_REVIEW[r.review]} {r.key} is {r.state}"


@text.register
def _(r: PriorityAtLeast) -> str:
    return f"priority {r.priority} is at or above {r.threshold}"


@text.register
def _(r: RiskyLabel) -> str:
    return f"labelled {r.label}"


@text.register
def _(r: ScoreAtLeast) -> str:
    return f"{r.field} {r.score:g} >= {r.at_least:g}"


@text.register
def _(r: LikelihoodTimesImpact) -> str:
    return (
        f"{r.likelihood_field} x {r.impact_field} = {r.likelihood:g} x {r.impact:g} = "
        f"{r.likelihood * r.impact:g} >= {r.at_least:g}"
    )


def risk_signals(signals: Iterable[RiskSignal]) -> str:
    """Why an issue is risky, in one line (also the reason a risk review sub-task gives)."""
    return "; ".join(text(s) for s in signals)


@text.register
def _(r: Risky) -> str:
    return f"risky: {risk_signals(r.signals)}"


@text.register
def _(r: EvaluationError) -> str:
    return r.message


@text.register
def _(r: NextReview) -> str:
    return f"next review: {r.due.isoformat() if r.due else 'not set'}"


def _one_of(values: Sequence[str]) -> str:
    return ", ".join(values)


_SCOPE = {
    "project": "project {actual} is not one of {allowed}",
    "issue type": "issue type {actual} is not one of {allowed}",
    "labels": "has none of the labels {allowed}",
    "excluded label": "has the excluded label {actual}",
    "priority": "priority {actual} is not one of {allowed}",
    "components": "has none of the components {allowed}",
    "status": "status {actual} is not one of {allowed}",
    "status category": "status category {actual} is not in scope",
    "field": "'{field}' is not one of {allowed}",
}


@text.register
def _(r: OutOfScope) -> str:
    why = _SCOPE[r.facet].format(actual=r.actual, allowed=_one_of(r.allowed), field=r.field)
    return f"out of scope: {why}"


@text.register
def _(r: StaleEvent) -> str:
    return f"stale event: it moved the issue to {r.moved_to}, but the issue is now in {r.now_in}"


@text.register
def _(r: NotGuarded) -> str:
    return "no guarded transition"


@text.register
def _(r: EmergencyNotGuarded) -> str:
    return "emergency change not yet in a guarded status"


@text.register
def _(r: EmergencyAllowed) -> str:
    return "emergency change allowed; review " + ("open" if r.review_open else "done")


@text.register
def _(r: SubtaskNotAssessed) -> str:
    return "sub-tasks are not risk-assessed"


@text.register
def _(r: NotRisky) -> str:
    return "not risky"


@text.register
def _(r: RiskyAwaitingReview) -> str:
    return "risky; review " + ("opened" if r.key is None else f"{r.key} exists")


@text.register
def _(r: RequirementsMet) -> str:
    return f"requirements met for {r.target}"


def exemption_why(e: ExemptionApplied) -> str:
    """Why an exemption applies: the policy's reason, and who set the label on what authority."""
    if e.group is None:
        return e.reason or f"label '{e.label}' is present"
    authority = f"label '{e.label}' added by {e.by}, member of '{e.group}'"
    return (e.reason + "; " if e.reason else "") + authority


@text.register
def _(r: ExemptionApplied) -> str:
    return f"exempt: {exemption_why(r)}"


@text.register
def _(r: RequirementsUnmet) -> str:
    return f"moved to {r.target} without meeting {r.count} requirement(s)"


@text.register
def _(r: CouldNotEvaluate) -> str:
    return "could not evaluate"


@text.register
def _(r: ReviewOverdue) -> str:
    return f"risk review overdue since {r.since.isoformat()}"


@text.register
def _(r: ReviewDateNotPassed) -> str:
    return "risk review date not passed"


@text.register
def _(r: RevertImpossible) -> str:
    if r.cause == "guard":
        return "this rule's guard says revert: false"
    if r.cause == "no-way-back":
        return f"this workflow has no transition from {r.to_status} back to {r.from_status}"
    return f"Jira refused the transition back ({r.failure})"


# -- Jira comments (wiki markup) -----------------------------------------------------------------


def requirement_line(requirement: Unmet) -> str:
    """One unmet requirement as a comment's bullet: what is missing, then how to fix it."""
    return f"* {item(requirement)}: {fix(requirement)}"


def _heading(rule_name: str) -> str:
    return f"*Hindsight policy: rule {rule_name}*"


def violation_comment(
    *,
    rule_name: str,
    description: str | None,
    label: str,
    moved_to: str | None,
    moved_from: str | None,
    missing: Sequence[Unmet],
    impossible: RevertImpossible | None,
    unflaggable: str | None,
    flagged_marker: str,
) -> str:
    """The violation comment: what is missing, how to fix it, what Hindsight did about it."""
    lines = [
        _heading(rule_name),
        f"This issue was moved to *{moved_to}* before these requirements were met:",
        *(requirement_line(m) for m in missing),
        "",
    ]
    if impossible and unflaggable:
        lines.append(
            f"Hindsight could not move it back ({text(impossible)}), so it is labelled "
            f"_{label}_ until the requirements are met. It could not flag it: {unflaggable}."
        )
    elif impossible:
        lines.append(
            f"Hindsight could not move it back ({text(impossible)}), so it is flagged and "
            f"labelled _{label}_ until the requirements are met.{flagged_marker}"
        )
    else:
        lines.append(
            f"It was moved back to *{moved_from}*. Fix the items above, then move it to "
            f"*{moved_to}* again."
        )
    if description:
        lines += ["", f"_{description.strip()}_"]
    return "\n".join(lines)


def requirements_met_comment(rule_name: str, target: str) -> str:
    """What the rule's comment says once a later move meets the requirements."""
    return f"{_heading(rule_name)}\nThe requirements for {target} are now met. Thank you."


def overdue_review_comment(rule_name: str, due_iso: str, next_review_field: str) -> str:
    """The sweep's comment on a risk whose review date passed."""
    return (
        f"{_heading(rule_name)}\nThe next risk review was due on *{due_iso}* and has not "
        f"happened. Review the risk, then set '{next_review_field}' to the date of the next "
        "review."
    )


# -- terminal lines ------------------------------------------------------------------------------


def action_text(kind: str, detail: str, result: str | None = None) -> str:
    """One action as a line: `revert: move CHG-1 back to In Progress [done]`."""
    return f"{kind}: {detail}" + (f" [{result}]" if result is not None else "")


def render_decisions(
    decisions: Iterable[PolicyDecision], escape: Callable[[str], str] = lambda line: line
) -> str:
    """Human-readable lines for a terminal: one block per rule. Each line passes `escape` (the
    CLI's terminal escaping), so a value quoted from Jira cannot start a line of its own."""
    lines: list[str] = []
    for d in decisions:
        extra = f" [{d.change_type} change]" if d.change_type else ""
        lines.append(f"{d.issue_key} {d.rule} ({d.mode}){extra}: {d.status.upper()} - {d.summary}")
        lines.extend(f"    - {reason}" for reason in d.reason_texts)
        if d.exemption:
            lines.append(f"    exempt: {exemption_why(d.exemption)}")
        lines.extend(f"    > {action_text(a.kind, a.detail, a.result)}" for a in d.actions)
    return "\n".join(escape(line) for line in lines)
