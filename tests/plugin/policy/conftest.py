"""Fixtures for policy tests: an in-memory Jira, a fixed clock, a small ITIL-style policy."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from plugin.policy.loader import parse_policy
from plugin.policy.model import Policy
from testkit.clock import StepClock
from testkit.memory_jira import MemoryJira

POLICY_YAML = """\
version: 1
defaults:
  mode: enforce
  label: policy-violation
rules:
  - name: change-control
    kind: change-control
    description: Changes follow the change process.
    scope:
      projects: [CHG]
      issue_types: [Change]
    guard:
      categories: [done]
    exemptions:
      - label: change-exempt
        group: change-managers
        reason: approved out of band
    change_types:
      field: Change type
      default: normal
      standard:
        values: [Standard]
        requires:
          fields: [Backout plan]
      normal:
        values: [Normal]
        requires:
          fields: [Impact on scope, Impact on schedule, Impact on cost, Impact on quality]
          approved_by:
            field: Approval
            value: Approved
            group: cab
      emergency:
        values: [Emergency]
        review:
          summary: Post-implementation review
          due_in_days: 3
          label: emergency-change
  - name: risk-review
    kind: risk-review
    scope:
      projects: [CHG]
    risky:
      priority_at_least: High
      labels: [high-risk]
      score: {field: Risk score, at_least: 15}
      likelihood_impact: {likelihood: Likelihood, impact: Impact, at_least: 12}
    review:
      summary: Risk review
      assignee: Risk owner
    requires:
      field_values:
        Risk response: [avoid, transfer, mitigate, accept]
      fields: [Risk owner, Next review date]
    next_review_field: Next review date
"""


@pytest.fixture
def clock() -> StepClock:
    return StepClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))


@pytest.fixture
def policy() -> Policy:
    return parse_policy(POLICY_YAML, source="test-policy.yaml")


@pytest.fixture
def jira() -> MemoryJira:
    return MemoryJira(groups={"cab-1": frozenset({"cab"}), "alice-1": frozenset({"developers"})})
