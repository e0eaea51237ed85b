"""What a policy needs of Jira: permissions per project, fields with how each is read, groups."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from plugin.jira.port import FieldInfo
from plugin.policy.model import AnyRule, ChangeControlRule, Policy, ReviewTask, RiskReviewRule

# what a predicate reads a field as (see plugin.policy.fields)
Reading = Literal["text", "number", "date", "user", "flag"]

# permission key -> why Hindsight needs it (Jira's own names, as mypermissions reports them)
WHY = {
    "BROWSE_PROJECTS": "read issues, their changelogs and transitions",
    "TRANSITION_ISSUES": "move an issue back after a guarded move that broke the policy",
    "ADD_COMMENTS": "explain a violation, or suggest lessons, in a comment",
    "EDIT_OWN_COMMENTS": "update its one comment instead of adding another",
    "EDIT_ISSUES": "add and remove labels and set the flag",
    "CREATE_ISSUES": "create review sub-tasks",
    "SCHEDULE_ISSUES": "give review sub-tasks a due date",
    "ASSIGN_ISSUES": "assign review sub-tasks",
    "USER_PICKER": "read users' groups for group approvals and exemptions",
}
OPTIONAL = frozenset({"SCHEDULE_ISSUES", "ASSIGN_ISSUES"})  # without them sub-tasks still come


def needed_permissions(policy: Policy) -> dict[str | None, set[str]]:
    """Permission keys per project the rules scope (None: rules without projects, and
    suggestions, which apply everywhere: checked as "in any project")."""
    needs: dict[str | None, set[str]] = {}
    for rule in policy.rules:
        keys = {"BROWSE_PROJECTS"}
        if policy.mode_of(rule) == "enforce":
            keys |= {"ADD_COMMENTS", "EDIT_OWN_COMMENTS", "EDIT_ISSUES"}
            if rule.guard.revert:
                keys.add("TRANSITION_ISSUES")
            if review_task(rule) is not None:
                keys |= {"CREATE_ISSUES", "SCHEDULE_ISSUES", "ASSIGN_ISSUES"}
        for project in rule.scope.projects or (None,):
            needs.setdefault(project, set()).update(keys)
    if policy.suggestions.enabled:
        needs.setdefault(None, set()).update({"BROWSE_PROJECTS", "ADD_COMMENTS"})
        needs[None].add("EDIT_OWN_COMMENTS")
    return needs


def policy_fields(policy: Policy) -> dict[str, Reading]:
    """Every field the policy names, with how its predicate reads it (first naming wins)."""
    found: dict[str, Reading] = {}

    def add(name: str | None, reading: Reading) -> None:
        if name and name.casefold() not in {"assignee", "reporter"} | {k.casefold() for k in found}:
            found[name] = reading

    for rule in policy.rules:
        for name in rule.scope.fields:
            add(name, "text")
        for requires in _requirements(rule):
            for name in requires.fields:
                add(name, "text")
            for name in requires.field_values:
                add(name, "text")
            for approval in requires.approved_by:
                add(approval.field, "text")
        if isinstance(rule, ChangeControlRule) and rule.change_types is not None:
            add(rule.change_types.field, "text")
        if isinstance(rule, RiskReviewRule):
            if rule.risky.score:
                add(rule.risky.score.field, "number")
            if rule.risky.likelihood_impact:
                add(rule.risky.likelihood_impact.likelihood, "number")
                add(rule.risky.likelihood_impact.impact, "number")
            add(rule.next_review_field, "date")
        task = review_task(rule)
        if task is not None:
            add(task.assignee, "user")
            if task.flag and policy.mode_of(rule) == "enforce":
                add(policy.defaults.flag_field, "flag")
    return found


def policy_groups(policy: Policy) -> set[str]:
    """Groups whose membership the policy checks (approvals and exemptions)."""
    groups = {e.group for rule in policy.rules for e in rule.exemptions if e.group}
    for rule in policy.rules:
        for requires in _requirements(rule):
            groups.update(a.group for a in requires.approved_by)
    return groups


READABLE: Mapping[Reading, str] = {
    "text": "any field",
    "number": "a number field, or a select or text field holding a leading number ('4 - Likely')",
    "date": "a date or date-time field",
    "user": "a user picker",
    "flag": "a checkbox field (Jira's own 'Flagged')",
}


def unreadable(info: FieldInfo, reading: Reading) -> str:
    """Why a field of this type cannot be read the way its predicate reads it ('' if it can)."""
    kind, items = info.schema_type, info.items
    if (
        reading == "number"
        and kind not in ("number", "option", "string", "")
        and not (kind == "array" and items in ("option", "string"))
    ):
        return "a number is read from it, and a field of this type holds none"
    if reading == "date" and kind not in ("date", "datetime"):
        return "a date is read from it, and it is not a date field"
    if reading == "user" and kind != "user" and not (kind == "array" and items == "user"):
        return "a user is read from it, and it is not a user picker"
    if reading == "flag" and not (kind == "array" and items == "option"):
        return "it is set to a checkbox value, and it is not a checkbox field"
    return ""


def type_text(info: FieldInfo) -> str:
    if not info.schema_type:
        return "no schema"
    return f"{info.schema_type} of {info.items}" if info.items else info.schema_type


def field_alias(policy: Policy, name: str) -> str | None:
    return next(
        (fid for alias, fid in policy.fields.items() if alias.casefold() == name.casefold()), None
    )


def _requirements(rule: AnyRule) -> list[Any]:
    if isinstance(rule, RiskReviewRule):
        return [rule.requires]
    if rule.requires is not None:
        return [rule.requires]
    types = rule.change_types
    assert types is not None
    return [spec.requires for spec in (types.standard, types.normal) if spec is not None]


def review_task(rule: AnyRule) -> ReviewTask | None:
    if isinstance(rule, RiskReviewRule):
        return rule.review
    types = rule.change_types
    return types.emergency.review if types is not None and types.emergency else None


def permission_order(key: str) -> int:
    order = list(WHY)
    return order.index(key) if key in order else len(order)
