"""The writes Hindsight makes in Jira, each idempotent: it looks before it writes.

`ActionRunner` either makes a write (enforce) or records it as planned (report-only); both leave
an `ActionRecord`. Retryable Jira failures (429, 5xx, timeouts) propagate so the delivery is
retried; since every action first checks the current state, a retry does no second write.

Writes respect Jira's screens: a field the edit screen lacks (the flag, labels) is recorded as
"not possible" with the reason, and a sub-task is created with only the optional fields (due
date, assignee, description) its create screen has; the rest of the action still happens.
Offline (no Jira) the screens cannot be read, so such writes are planned, never called failed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from kb.clock import Clock
from plugin.jira.errors import JiraApiError
from plugin.jira.port import (
    ChangeItem,
    Comment,
    Issue,
    IssueRef,
    JiraPort,
    ScreenField,
    Transition,
    User,
    markers_in,
    without_markers,
)
from plugin.jira.transitions import fields_for_screen, transition_to
from plugin.policy.decision import ActionRecord
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

    def __init__(self, jira: JiraPort, *, enforce: bool, offline: bool = False) -> None:
        self.jira = jira
        self.enforce = enforce
        self.offline = offline  # no Jira to read screens from (implies planning only)
        self.records: list[ActionRecord] = []
        self._edit_screens: dict[str, Mapping[str, ScreenField]] = {}

    def edit_screen(self, key: str) -> Mapping[str, ScreenField] | None:
        """`key`'s edit screen, read once per runner (one decision); None offline (unknown)."""
        if self.offline:
            return None
        if key not in self._edit_screens:
            self._edit_screens[key] = self.jira.edit_screen(key)
        return self._edit_screens[key]

    def not_editable(self, key: str, field_id: str, shown: str) -> str | None:
        """Why `field_id` cannot be set on `key` (not on its edit screen), or None if it can
        (or cannot be known offline)."""
        screen = self.edit_screen(key)
        if screen is None or field_id in screen:
            return None
        return (
            f"'{shown}' is not on the edit screen of {key} for Hindsight's account: add it to "
            "the project's edit screen and give the account Edit Issues"
        )

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
    """Hindsight's comment named `mark`. Only the service account's comments carry markers
    (`Comment.markers`), so a person's comment quoting the marker is never taken for ours."""
    return next((c for c in issue.comments if mark in c.markers), None)


def upsert_comment(runner: ActionRunner, issue: Issue, mark: str, body: str) -> None:
    """One comment per rule: add it the first time, edit it later, leave it when unchanged.

    The comment's markers go into its entity property, which survives a person's edit of the
    body and Cloud's storage (ADF drops the `{anchor}` macros the body still carries for
    Data Center and for comments written before the property)."""
    full = f"{mark}{body}"
    markers = markers_in(full)
    existing = find_marked_comment(issue, mark)
    if existing is None:
        runner.write(
            "comment",
            "add a comment",
            lambda: runner.jira.add_comment(issue.key, full, markers=markers),
            {"body": full},  # the exact text, so a report-only run can show what it would post
        )
    elif set(existing.markers) == set(markers) and _normalise(
        without_markers(existing.body)
    ) == _normalise(without_markers(full)):
        runner.note("comment", f"comment {existing.id} already says this", "unchanged")
    else:
        runner.write(
            "comment",
            f"edit comment {existing.id}",
            lambda: runner.jira.edit_comment(issue.key, existing.id, full, markers=markers),
            {"comment_id": existing.id, "body": full},
        )


def ensure_label(runner: ActionRunner, issue: Issue, label: str) -> None:
    if label.casefold() in {existing.casefold() for existing in issue.labels}:
        return
    detail = f"add label {label}"
    blocked = runner.not_editable(issue.key, "labels", "Labels")
    if blocked:
        runner.note("label", detail, f"not possible: {blocked}")
        return
    runner.write("label", detail, lambda: runner.jira.add_labels(issue.key, [label]))


def drop_label(runner: ActionRunner, issue: Issue, label: str) -> None:
    present = [existing for existing in issue.labels if existing.casefold() == label.casefold()]
    if not present:
        return
    detail = f"remove label {present[0]}"
    blocked = runner.not_editable(issue.key, "labels", "Labels")
    if blocked:
        runner.note("unlabel", detail, f"not possible: {blocked}")
        return
    runner.write("unlabel", detail, lambda: runner.jira.remove_labels(issue.key, present))


def flag_blocker(
    runner: ActionRunner, issue: Issue, fields: FieldResolver, defaults: Defaults
) -> str | None:
    """Why the flag cannot be set on `issue` (an unknown field, or one its edit screen lacks);
    None when it can, or when that cannot be known without Jira."""
    try:
        field_id = fields.id_of(defaults.flag_field)
    except UnknownField as exc:
        return None if runner.offline else str(exc)
    return runner.not_editable(issue.key, field_id, defaults.flag_field)


def set_flag(
    runner: ActionRunner, issue: Issue, fields: FieldResolver, defaults: Defaults, *, on: bool
) -> bool:
    """Set or clear the flag field (Jira's "Flagged": a checkbox holding "Impediment").

    True when the issue is (or is planned to be) in the wanted state. When the field is
    unknown or not on the edit screen, the record says so once and nothing is written.
    """
    try:
        field_id = fields.id_of(defaults.flag_field)
    except UnknownField as exc:
        if runner.offline:  # the name is resolved in Jira when it is configured
            if on:
                runner.note(
                    "flag",
                    f"set '{defaults.flag_field}' on {issue.key} (the field and the edit "
                    "screen are looked up in Jira when it is configured)",
                    "planned",
                )
            return on
        if on:
            runner.note("flag", f"flag {issue.key}", f"not possible: {exc}")
        return not on
    flagged = is_filled(issue.fields.get(field_id))
    if on == flagged:
        return True
    kind, verb = ("flag", "set") if on else ("unflag", "clear")
    detail = f"{verb} '{defaults.flag_field}' on {issue.key}"
    blocked = runner.not_editable(issue.key, field_id, defaults.flag_field)
    if blocked:
        runner.note(kind, detail, f"not possible: {blocked}")
        return False
    value = [{"value": defaults.flag_value}] if on else None
    return runner.write(kind, detail, lambda: runner.jira.set_fields(issue.key, {field_id: value}))


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


# optional fields of a review sub-task: (field id, how the decision names it)
_SUBTASK_OPTIONAL = (
    ("description", "description"),
    ("duedate", "due date"),
    ("assignee", "assignee"),
)


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
    """Create the review sub-task unless one with its summary exists; returns the existing one.

    Only the optional fields the sub-task type's create screen has are sent (Jira refuses the
    whole create otherwise); the record names those left out.
    """
    existing = find_subtask(issue, task.summary)
    if existing is not None:
        return existing
    due = (clock.now() + timedelta(days=task.due_in_days)).date().isoformat()
    assignee = review_assignee(issue, task, fields)
    description = (task.description.strip() + "\n\n" if task.description.strip() else "") + (
        f"Created by Hindsight (rule {rule_name}): {why}.{marker(rule_name, 'subtask')}"
    )
    wanted: dict[str, Any] = {"description": description, "duedate": due}
    if assignee is not None:
        wanted["assignee"] = assignee
    left_out: tuple[str, ...] = ()
    where = ""
    if not runner.offline:
        subtask_type = runner.jira.subtask_type(issue.project)
        screen = runner.jira.create_screen(issue.project, subtask_type.id)
        wanted, dropped = fields_for_screen(screen, wanted)
        left_out = tuple(shown for fid, shown in _SUBTASK_OPTIONAL if fid in dropped)
        where = f"the create screen of {subtask_type.name} in {issue.project}"
    sent_due = wanted.get("duedate")
    sent_assignee = wanted.get("assignee")
    detail = (
        f"create sub-task '{task.summary}'"
        + (f" due {sent_due}" if sent_due else "")
        + (f" for {sent_assignee.display_name or sent_assignee.ref}" if sent_assignee else "")
        + (f" (without {', '.join(left_out)}: not on {where})" if left_out else "")
    )
    runner.write(
        "create-subtask",
        detail,
        lambda: runner.jira.create_subtask(
            issue.key,
            task.summary,
            wanted.get("description", ""),
            assignee=sent_assignee,
            fields={"duedate": sent_due} if sent_due else None,
        ),
        {"due": sent_due, **({"left_out": list(left_out)} if left_out else {})},
    )
    return None
