"""Check a rule's requirements against an issue: each missing item by name, with how to fix it."""

from __future__ import annotations

from dataclasses import dataclass

from plugin.jira.port import Issue, IssueRef, JiraPort
from plugin.policy.fields import FieldResolver, is_filled, matches_any, texts, user_label
from plugin.policy.model import (
    ApprovalRequirement,
    LinkRequirement,
    Requirements,
    SubtaskRequirement,
)


@dataclass(frozen=True)
class Missing:
    """One requirement that does not hold: what is missing, and what the reader should do."""

    item: str
    fix: str

    def __str__(self) -> str:
        return f"{self.item} ({self.fix})"


def missing_items(
    requirements: Requirements, issue: Issue, fields: FieldResolver, jira: JiraPort
) -> list[Missing]:
    """Every requirement `issue` does not meet, in the order the policy lists them."""
    missing: list[Missing] = []
    for field in requirements.fields:
        if not is_filled(fields.value(issue, field)):
            name = fields.display(field)
            missing.append(Missing(f"'{name}' is empty", f"fill in '{name}'"))
    for field, allowed in requirements.field_values.items():
        value, name = fields.value(issue, field), fields.display(field)
        if not matches_any(value, allowed):
            shown = ", ".join(texts(value)) or "empty"
            missing.append(
                Missing(
                    f"'{name}' is {shown}, not {' or '.join(allowed)}",
                    f"set '{name}' to {' or '.join(allowed)}",
                )
            )
    for approval in requirements.approved_by:
        problem = _approval_problem(approval, issue, fields, jira)
        if problem:
            missing.append(problem)
    for link in requirements.links:
        found = [ln.issue for ln in issue.links if _link_matches(link, ln.type, ln.description)]
        found = [ref for ref in found if _ref_matches(ref, link.issue_type, None, link.done)]
        if len(found) < link.at_least:
            missing.append(_missing_related("linked issue", link, len(found)))
    for sub in requirements.subtasks:
        found = [
            r for r in issue.subtasks if _ref_matches(r, sub.issue_type, sub.summary, sub.done)
        ]
        if len(found) < sub.at_least:
            missing.append(_missing_related("sub-task", sub, len(found)))
    return missing


def _approval_problem(
    approval: ApprovalRequirement, issue: Issue, fields: FieldResolver, jira: JiraPort
) -> Missing | None:
    shown = fields.display(approval.field)
    fix = f"a member of '{approval.group}' sets '{shown}' to {approval.value}"
    if not matches_any(fields.value(issue, approval.field), (approval.value,)):
        return Missing(f"approval: '{shown}' is not {approval.value}", fix)
    if fields.offline:
        return Missing(
            f"approval by a member of '{approval.group}' cannot be checked without Jira",
            "run `hindsight policy explain` against Jira to check group membership",
        )
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
                return Missing(
                    f"approval: '{shown}' was set to {approval.value} by "
                    f"{user_label(entry.author)}, who is not a member of '{approval.group}'",
                    fix,
                )
    return Missing(
        f"approval: the history does not show who set '{shown}' to {approval.value}",
        fix,
    )


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


def _missing_related(what: str, spec: LinkRequirement | SubtaskRequirement, found: int) -> Missing:
    words = [f"{spec.at_least}"]
    if spec.done:
        words.append("done")
    if spec.issue_type:
        words.append(spec.issue_type)
    words.append(what if spec.at_least == 1 else what + "s")
    if isinstance(spec, LinkRequirement) and spec.link:
        words.append(f"('{spec.link}')")
    if isinstance(spec, SubtaskRequirement) and spec.summary:
        words.append(f"named '{spec.summary}'")
    item = " ".join(words) + f" needed, {found} found"
    fix = f"{'link' if isinstance(spec, LinkRequirement) else 'add'} and finish the {what}"
    return Missing(item, fix)
