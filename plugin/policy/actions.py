"""The writes Hindsight makes in Jira, each idempotent: it looks before it writes.

`ActionRunner` either makes a write (enforce) or records it as planned (report-only); both leave
an `ActionRecord`. Retryable Jira failures (429, 5xx, timeouts) propagate so the delivery is
retried; since every action first checks the current state, a retry does no second write.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from plugin.jira.errors import JiraApiError
from plugin.jira.port import ChangeItem, Comment, Issue, IssueRef, JiraPort, Transition, User
from plugin.jira.transitions import fields_for_screen, transition_to
from plugin.policy.decision import ActionRecord, Clock
from plugin.policy.fields import FieldResolver, UnknownField, is_filled, user_in
from plugin.policy.model import Defaults, ReviewTask


def marker(rule_name: str, topic: str = "") -> str:
    """A hidden marker (wiki-markup anchor, invisible when rendered) naming the rule's comment."""
    suffix = f"-{topic}" if topic else ""
    return f"{{anchor:hindsight-{rule_name}{suffix}}}"


def _normalise(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


class ActionRunner:
    """Runs writes against Jira, or only plans them, and keeps a record of each."""

    def __init__(self, jira: JiraPort, *, enforce: bool) -> None:
        self.jira = jira
        self.enforce = enforce
        self.records: list[ActionRecord] = []

    def write(
        self, kind: str, detail: str, call: Callable[[], Any], data: dict[str, Any] | None = None
    ) -> bool:
        """Make (or plan) one write; False when Jira refused it for good."""
        if not self.enforce:
            self.records.append(ActionRecord(kind, detail, "planned", data or {}))
            return True
        try:
            call()
        except JiraApiError as exc:
            if exc.retryable:
                raise
            self.records.append(ActionRecord(kind, detail, f"failed: {exc}", data or {}))
            return False
        self.records.append(ActionRecord(kind, detail, "done", data or {}))
        return True

    def note(self, kind: str, detail: str, result: str) -> None:
        self.records.append(ActionRecord(kind, detail, result))


def find_marked_comment(issue: Issue, mark: str) -> Comment | None:
    return next((c for c in issue.comments if mark in c.body), None)


def upsert_comment(runner: ActionRunner, issue: Issue, mark: str, body: str) -> None:
    """One comment per rule: add it the first time, edit it later, leave it when unchanged."""
    full = f"{mark}{body}"
    existing = find_marked_comment(issue, mark)
    if existing is None:
        runner.write("comment", "add a comment", lambda: runner.jira.add_comment(issue.key, full))
    elif _normalise(existing.body) == _normalise(full):
        runner.note("comment", f"comment {existing.id} already says this", "unchanged")
    else:
        runner.write(
            "comment",
            f"edit comment {existing.id}",
            lambda: runner.jira.edit_comment(issue.key, existing.id, full),
            {"comment_id": existing.id},
        )


def ensure_label(runner: ActionRunner, issue: Issue, label: str) -> None:
    if label.casefold() in {existing.casefold() for existing in issue.labels}:
        return
    runner.write("label", f"add label {label}", lambda: runner.jira.add_labels(issue.key, [label]))


def drop_label(runner: ActionRunner, issue: Issue, label: str) -> None:
    present = [existing for existing in issue.labels if existing.casefold() == label.casefold()]
    if present:
        runner.write(
            "unlabel",
            f"remove label {present[0]}",
            lambda: runner.jira.remove_labels(issue.key, present),
        )


def set_flag(
    runner: ActionRunner, issue: Issue, fields: FieldResolver, defaults: Defaults, *, on: bool
) -> None:
    """Set or clear the flag field (Jira's "Flagged": a checkbox holding "Impediment")."""
    try:
        field_id = fields.id_of(defaults.flag_field)
    except UnknownField as exc:
        if on:
            runner.note("flag", f"flag {issue.key}", f"not possible: {exc}")
        return
    flagged = is_filled(issue.fields.get(field_id))
    if on and not flagged:
        value = [{"value": defaults.flag_value}]
        runner.write(
            "flag",
            f"set '{defaults.flag_field}' on {issue.key}",
            lambda: runner.jira.set_fields(issue.key, {field_id: value}),
        )
    elif not on and flagged:
        runner.write(
            "unflag",
            f"clear '{defaults.flag_field}' on {issue.key}",
            lambda: runner.jira.set_fields(issue.key, {field_id: None}),
        )


def way_back(transitions: list[Transition], change: ChangeItem) -> Transition | None:
    """The transition whose target is the status the issue came from (ids, not names)."""
    return transition_to(transitions, change.from_value or "")


def revert_fields(transition: Transition) -> dict[str, Any] | None:
    """Clear `resolution` only when the transition's screen has it; Jira refuses it otherwise."""
    kept, _ = fields_for_screen(transition, {"resolution": None})
    return kept or None


def find_subtask(issue: Issue, summary: str) -> IssueRef | None:
    wanted = summary.casefold()
    return next((s for s in issue.subtasks if s.summary.casefold() == wanted), None)


def review_assignee(issue: Issue, task: ReviewTask, fields: FieldResolver) -> User | None:
    """Who the review goes to: the named user field, else the assignee, else the reporter."""
    choice = task.assignee.casefold()
    if choice == "reporter":
        return issue.reporter or issue.assignee
    if choice != "assignee":
        user = user_in(fields.value(issue, task.assignee))
        if user is not None:
            return user
    return issue.assignee or issue.reporter


def ensure_subtask(
    runner: ActionRunner,
    issue: Issue,
    task: ReviewTask,
    *,
    rule_name: str,
    clock: Clock,
    fields: FieldResolver,
    why: str,
) -> IssueRef | None:
    """Create the review sub-task unless one with its summary exists; returns the existing one."""
    existing = find_subtask(issue, task.summary)
    if existing is not None:
        return existing
    due = (clock.now() + timedelta(days=task.due_in_days)).date().isoformat()
    assignee = review_assignee(issue, task, fields)
    description = (task.description.strip() + "\n\n" if task.description.strip() else "") + (
        f"Created by Hindsight (rule {rule_name}): {why}.{marker(rule_name, 'subtask')}"
    )
    runner.write(
        "create-subtask",
        f"create sub-task '{task.summary}' due {due}"
        + (f" for {assignee.display_name or assignee.ref}" if assignee else ""),
        lambda: runner.jira.create_subtask(
            issue.key, task.summary, description, assignee=assignee, fields={"duedate": due}
        ),
        {"due": due},
    )
    return None
