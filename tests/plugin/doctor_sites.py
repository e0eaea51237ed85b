"""Fake Jira sites for `hindsight doctor`: a healthy one and one with three problems.

`python -m tests.plugin.doctor_sites` prints the doctor's checklist for both, in both flavours.
"""

from __future__ import annotations

import sys

from plugin.doctor import Doctor, DoctorReport
from plugin.policy.loader import parse_policy
from plugin.policy.model import Policy
from testkit.fakejira.fake import FakeJira
from testkit.fakejira.fixtures import adapter_for
from testkit.fakejira.model import TransitionDef
from testkit.fakejira.scenario import populate_change_site
from testkit.fakejira.workflows import CHANGE, SUBTASK_TYPE, WorkflowSpec

PUBLIC_URL = "https://hindsight.example.com"
POLICY = """
version: 1
rules:
  - name: change-control
    kind: change-control
    scope: {{projects: [{project}], issue_types: [Change]}}
    guard: {{statuses: [Deploying]}}
    exemptions: [{{label: change-exempt, group: change-managers}}]
    change_types:
      field: Change type
      normal:
        values: [Normal]
        requires: {{fields: [Backout plan], field_values: {{Risk level: [Low, Medium]}}}}
      emergency:
        values: [Emergency]
        review: {{summary: Post-implementation review, assignee: reporter}}
  - name: risk-review
    kind: risk-review
    scope: {{projects: [{project}]}}
    risky: {{labels: [high-risk], score: {{field: Risk score, at_least: 15}}}}
    next_review_field: Next review
"""
# the change workflow plus a way back out of Deploying and Done
WITH_WAYS_BACK = WorkflowSpec(
    "Change workflow with ways back",
    CHANGE.statuses,
    (
        *CHANGE.transitions,
        TransitionDef("95", "Back to approval", "Awaiting approval", frozenset({"Deploying"})),
        TransitionDef("96", "Back to work", "In Progress", frozenset({"Deploying"})),
        TransitionDef("97", "Back to deploying", "Deploying", frozenset({"Done"})),
    ),
)


def policy_for(project: str) -> Policy:
    return parse_policy(POLICY.format(project=project))


def healthy(fake: FakeJira) -> Policy:
    """Project SAFE with ways back, every field, an issue in every status; all permissions."""
    _site(fake)
    fake.add_field("Backout plan", "customfield_10090")
    fake.add_project("SAFE", "Safe changes", workflow=fake.add_workflow(WITH_WAYS_BACK))
    _an_issue_in_every_status(fake, "SAFE")
    return policy_for("SAFE")


def broken(fake: FakeJira) -> Policy:
    """Project CHG: nothing leads back out of Deploying, the service account may not create
    issues (review sub-tasks) there, and the policy's "Backout plan" field does not exist."""
    _site(fake)
    _an_issue_in_every_status(fake, "CHG")
    fake.permissions.revoke(fake.service_account.name, "CREATE_ISSUES", project="CHG")
    return policy_for("CHG")


def _site(fake: FakeJira) -> None:
    populate_change_site(fake)
    fake.add_field("Risk score", "customfield_10091", {"type": "number", "custom": "float"})
    # every Jira Software site has "Flagged", a checkbox holding "Impediment"
    flagged = {"type": "array", "items": "option", "custom": "multicheckboxes"}
    fake.add_field("Flagged", "customfield_10021", flagged)


def _an_issue_in_every_status(fake: FakeJira, project: str) -> None:
    flow = fake.projects[project].workflows[""]
    parent = ""
    for issuetype in ("Change", "Task", "Bug"):
        for status in flow.statuses:
            key = fake.add_issue(project, issuetype, f"{issuetype} in {status}", status=status)
            parent = parent or key
    for status in fake.projects[project].workflow_for(SUBTASK_TYPE).statuses:
        fake.add_issue(project, SUBTASK_TYPE.name, f"Sub-task in {status}", parent=parent,
                       status=status)  # fmt: skip
    fake.clear_webhooks()


def doctor_for(fake: FakeJira, policy: Policy) -> DoctorReport:
    return Doctor(adapter_for(fake), policy, jira_url=fake.base_url, public_url=PUBLIC_URL).run()


def main() -> None:
    from hindsight.commands.doctor import render_report

    for flavour in ("cloud", "server"):
        for name, build in (("healthy", healthy), ("broken", broken)):
            with FakeJira(flavour) as fake:  # type: ignore[arg-type]
                report = doctor_for(fake, build(fake))
            sys.stdout.write(f"\n## {flavour}, {name} site\n$ hindsight doctor\n")
            sys.stdout.write(render_report(report) + f"\n(exit {1 if report.failed else 0})\n")


if __name__ == "__main__":
    main()
