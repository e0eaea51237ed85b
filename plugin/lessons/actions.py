"""Action items in Jira: "Create in Jira" exactly once, and the issue's status kept in step.

Creating: the item's idempotency key (a label, `hindsight-action-<id>`) is stored before Jira
is called, under a short lease so two clicks never call Jira together; a retry after a crash or
a timeout first looks for an issue carrying that label (JQL) and records it instead of creating
another. The issue links back to the item's page, and the item keeps the issue key. In
report-only mode nothing is created: the item records what would have been.

Keeping in step: a `jira:issue_updated` delivery that changes the status of an item's issue
re-reads the issue (deliveries can be late or out of order) and sets the item done when the
issue is in a done-category status, back to open when it left it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from kb.actions import ActionItem, ActionItems
from plugin.dispatch import Dispatcher, HandlerResult
from plugin.events import JiraEvent
from plugin.jira.port import JiraPort
from plugin.lessons.comment import one_line, wiki_escape

ACTION_LABEL = "hindsight-action"
ISSUE_TYPE = "Task"
SYNC = "lessons.action_status"
JIRA_ACTOR = "jira"

PushAction = Literal["created", "found", "already", "planned"]


class ActionPushError(Exception):
    """The item cannot go to Jira as it is; the message says what to change."""


@dataclass(frozen=True)
class PushOutcome:
    """What "Create in Jira" did: created, found again (after a retry), already linked, or
    planned (report-only)."""

    action: PushAction
    item: ActionItem
    key: str | None


def item_url(base_url: str, item_id: str) -> str:
    return f"{base_url.rstrip('/')}/actions/{item_id}"


class ActionItemPusher:
    """Create an action item's Jira issue through the Jira port, exactly once."""

    def __init__(
        self,
        items: ActionItems,
        jira: JiraPort,
        *,
        base_url: str,
        report_only: bool,
        issue_type: str = ISSUE_TYPE,
    ) -> None:
        self.items = items
        self.jira = jira
        self.base_url = base_url
        self.report_only = report_only
        self.issue_type = issue_type

    def push(self, item_id: str) -> PushOutcome:
        """Create (or find again) the item's issue; raises JiraPushBusy, ActionPushError, or
        the Jira port's errors (the lease is released, so the button can be pressed again)."""
        item = self.items.get(item_id)
        if item.jira_key:
            return PushOutcome("already", item, item.jira_key)
        if not item.project:
            raise ActionPushError(
                f"action item {item.id} has no project: set its Jira project key first"
            )
        item = self.items.claim_jira_push(item_id)
        if item.jira_key:  # another push finished meanwhile
            return PushOutcome("already", item, item.jira_key)
        label = item.jira_request or ""
        try:
            if not self.report_only:
                found = next(iter(self.jira.search(f'labels = "{label}"', page_size=1)), None)
                if found is not None:
                    item = self.items.record_jira_issue(item.id, found.key)
                    return PushOutcome("found", item, item.jira_key)
            summary = one_line(item.text, 200)
            description = self._description(item)
            created = self.jira.create_issue(
                item.project or "",
                self.issue_type,
                summary,
                description,
                fields={"labels": [ACTION_LABEL, label]},
            )
        except BaseException:
            self.items.release_jira_push(item.id)
            raise
        if self.report_only:
            plan = {
                "project": item.project,
                "issuetype": self.issue_type,
                "summary": summary,
                "labels": [ACTION_LABEL, label],
                "description": description,
            }
            return PushOutcome("planned", self.items.record_jira_plan(item.id, plan), None)
        item = self.items.record_jira_issue(item.id, created.key)
        return PushOutcome("created", item, item.jira_key)

    def _description(self, item: ActionItem) -> str:
        lines = [wiki_escape(item.text), ""]
        if item.owner:
            lines.append(f"*Owner:* {wiki_escape(item.owner)}")
        if item.due:
            lines.append(f"*Due:* {item.due}")
        lines.append(
            f"An action item from a retrospective, tracked in Hindsight: "
            f"[{item.id}|{item_url(self.base_url, item.id)}]. Closing this issue marks it done."
        )
        return "\n".join(lines)


class ActionStatusSync:
    """Keeps an action item's status in step with its Jira issue (a dispatcher handler)."""

    def __init__(self, items: ActionItems, jira_for: Callable[[JiraEvent], JiraPort]) -> None:
        self.items = items
        self.jira_for = jira_for

    def register(self, dispatcher: Dispatcher) -> None:
        dispatcher.register("jira:issue_updated", SYNC, self.on_issue_updated)

    def on_issue_updated(self, event: JiraEvent, delivery_key: str) -> HandlerResult:
        key = event.issue_key
        if not key:
            return HandlerResult("skipped", "the delivery names no issue")
        if event.status_change is None:
            return HandlerResult("skipped", "no status change")
        item = self.items.by_jira_key(key)
        if item is None:
            return HandlerResult("skipped", f"{key} is no action item's issue")
        issue = self.jira_for(event).get_issue(key)  # the current state, not the delivery's
        wanted = item.status
        if issue.status.category == "done":
            wanted = "done"
        elif item.status == "done":
            wanted = "open"
        data = {"item": item.id, "issue": key, "jira_status": issue.status.name}
        if wanted == item.status:
            return HandlerResult("no-op", f"action item {item.id} is already {wanted}", data)
        self.items.set_status(item.id, wanted, f"{JIRA_ACTOR}:{key}")
        # The knowledge base is ours: the item changes even when Jira is report-only.
        return HandlerResult(
            "acted", f"action item {item.id}: {item.status} -> {wanted} ({key})", data
        )
