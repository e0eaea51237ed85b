"""Ready-made workflows and issue types for the fake, shaped like a change-control site.

CHANGE: To Do -> In Progress -> Awaiting approval -> Deploying -> Done.

    id  name                       from                 to                 screen
    11  Start work                 To Do                In Progress
    21  Request approval           In Progress          Awaiting approval
    31  Approve                    Awaiting approval    Deploying
    41  Deployed                   Deploying            Done               resolution (required)
    51  Stop work                  In Progress          To Do
    61  Withdraw approval request  Awaiting approval    In Progress
    71  Emergency deploy           In Progress          Deploying
    81  Close                      In Progress          Done               resolution (required)
    91  Reopen                     Done                 In Progress        (none; clears resolution)

Every status has a way back except Deploying (nothing leads from it to Awaiting approval or In
Progress), so reverting "Emergency deploy" is impossible: the fallback case. Leaving Done
("Reopen") has no resolution on its screen: sending one fails with Jira's screen error.
"""

from __future__ import annotations

from dataclasses import dataclass

from testkit.fakejira.model import IssueTypeDef, ScreenField, TransitionDef, Workflow

RESOLUTION_REQUIRED = (ScreenField("resolution", required=True),)


@dataclass(frozen=True)
class WorkflowSpec:
    """A workflow with its statuses as (name, category, id) so the fake can register them."""

    name: str
    statuses: tuple[tuple[str, str, str], ...]
    transitions: tuple[TransitionDef, ...]

    def build(self) -> Workflow:
        return Workflow(
            self.name,
            initial=self.statuses[0][0],
            statuses=tuple(name for name, _, _ in self.statuses),
            transitions=list(self.transitions),
        )


def _t(
    tid: str,
    name: str,
    source: str | None,
    to: str,
    screen: tuple[ScreenField, ...] = (),
    *,
    clears_resolution: bool = False,
) -> TransitionDef:
    sources = None if source is None else frozenset({source})
    return TransitionDef(tid, name, to, sources, screen, clears_resolution)


CHANGE = WorkflowSpec(
    "Change workflow",
    (
        ("To Do", "new", "10000"),
        ("In Progress", "indeterminate", "3"),
        ("Awaiting approval", "indeterminate", "10001"),
        ("Deploying", "indeterminate", "10002"),
        ("Done", "done", "10003"),
    ),
    (
        _t("11", "Start work", "To Do", "In Progress"),
        _t("21", "Request approval", "In Progress", "Awaiting approval"),
        _t("31", "Approve", "Awaiting approval", "Deploying"),
        _t("41", "Deployed", "Deploying", "Done", RESOLUTION_REQUIRED),
        _t("51", "Stop work", "In Progress", "To Do"),
        _t("61", "Withdraw approval request", "Awaiting approval", "In Progress"),
        _t("71", "Emergency deploy", "In Progress", "Deploying"),
        _t("81", "Close", "In Progress", "Done", RESOLUTION_REQUIRED),
        _t("91", "Reopen", "Done", "In Progress", clears_resolution=True),
    ),
)

SUBTASK = WorkflowSpec(
    "Sub-task workflow",
    (
        ("To Do", "new", "10000"),
        ("In Progress", "indeterminate", "3"),
        ("Done", "done", "10003"),
    ),
    (
        _t("11", "Start", "To Do", "In Progress"),
        _t("21", "Finish", "In Progress", "Done", RESOLUTION_REQUIRED),
        _t("31", "Back to To Do", "In Progress", "To Do"),
        _t("41", "Reopen", "Done", "In Progress", clears_resolution=True),
    ),
)

SUBTASK_TYPE = IssueTypeDef("10003", "Sous-tâche", subtask=True, description="Une sous-tâche")
DEFAULT_ISSUE_TYPES = (
    IssueTypeDef("10100", "Change", description="A change to production"),
    IssueTypeDef("10001", "Task", description="A task"),
    IssueTypeDef("10004", "Bug", description="A problem"),
    SUBTASK_TYPE,
)
