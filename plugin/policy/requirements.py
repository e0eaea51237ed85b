"""Check a rule's requirements against an issue: each unmet one as data (`reasons.Unmet`)."""

from __future__ import annotations

from plugin.jira.port import Issue, IssueRef, JiraPort
from plugin.policy.fields import FieldResolver, is_filled, matches_any, texts, user_label
from plugin.policy.model import (
    ApprovalRequirement,
    LinkRequirement,
    Requirements,
    SubtaskRequirement,
)
from plugin.policy.reasons import (
    ApprovalAuthorUnknown,
    ApprovalByNonMember,
    ApprovalMissing,
    ApprovalUncheckable,
    FieldEmpty,
    FieldValueNotAllowed,
    RelatedMissing,
    Unmet,
)


def missing_items(
    requirements: Requirements, issue: Issue, fields: FieldResolver, jira: JiraPort
) -> list[Unmet]:
    """Every requirement `issue` does not meet, in the order the policy lists them."""
    missing: list[Unmet] = []
    for field in requirements.fields:
        if not is_filled(fields.value(issue, field)):
            missing.append(FieldEmpty(fields.display(field)))
    for field, allowed in requirements.field_values.items():
        value, name = fields.value(issue, field), fields.display(field)
        if not matches_any(value, allowed):
            missing.append(FieldValueNotAllowed(name, tuple(allowed), tuple(texts(value))))
    for approval in requirements.approved_by:
        problem = _approval_problem(approval, issue, fields, jira)
        if problem:
            missing.append(problem)
    for link in requirements.links:
        found = [ln.issue for ln in issue.links if _link_matches(link, ln.type, ln.description)]
        found = [ref for ref in found if _ref_matches(ref, link.issue_type, None, link.done)]
        if len(found) < link.at_least:
            missing.append(_missing_related(link, len(found)))
    for sub in requirements.subtasks:
        found = [
            r for r in issue.subtasks if _ref_matches(r, sub.issue_type, sub.summary, sub.done)
        ]
        if len(found) < sub.at_least:
            missing.append(_missing_related(sub, len(found)))
    return missing


def _approval_problem(
    approval: ApprovalRequirement, issue: Issue, fields: FieldResolver, jira: JiraPort
) -> Unmet | None:
    shown = fields.display(approval.field)
    wanted = (shown, approval.value, approval.group)
    if not matches_any(fields.value(issue, approval.field), (approval.value,)):
        return ApprovalMissing(*wanted)
    if fields.offline:
        return ApprovalUncheckable(*wanted)
    field_id = fields.id_of(approval.field)
    # Data Center changelog items name the field but carry no id
    names = {approval.field.casefold(), shown.casefold(), field_id.casefold()}
    for entry in issue.history_newest_first():
        for item in entry.items:
            same_field = item.field_id == field_id or item.field.casefold() in names
            if same_field and (item.to_string or "").casefold() == approval.value.casefold():
                groups = jira.user_groups(entry.author) if entry.author else frozenset()
                if approval.group.casefold() in {g.casefold() for g in groups}:
                    return None
                return ApprovalByNonMember(*wanted, by=user_label(entry.author))
    return ApprovalAuthorUnknown(*wanted)


def _link_matches(link: LinkRequirement, type_name: str, description: str) -> bool:
    if link.link is None:
        return True
    wanted = link.link.casefold()
    return wanted in (type_name.casefold(), description.casefold())


def _ref_matches(ref: IssueRef, issue_type: str | None, summary: str | None, done: bool) -> bool:
    if issue_type and (
        ref.issuetype is None or ref.issuetype.name.casefold() != issue_type.casefold()
    ):
        return False
    if summary and summary.casefold() not in ref.summary.casefold():
        return False
    return not done or (ref.status is not None and ref.status.category == "done")


def _missing_related(spec: LinkRequirement | SubtaskRequirement, found: int) -> RelatedMissing:
    if isinstance(spec, LinkRequirement):
        return RelatedMissing(
            "link", spec.at_least, found, spec.done, spec.issue_type, link=spec.link
        )
    return RelatedMissing(
        "subtask", spec.at_least, found, spec.done, spec.issue_type, summary=spec.summary
    )
