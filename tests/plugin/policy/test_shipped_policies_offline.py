"""The shipped policies run clean on the shipped example deliveries without Jira (the demo).

Without Jira nothing about the workflow or the screens can be known, so no action may claim a
failure: every write is planned, and nothing ends "not possible" or "failed".
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hindsight.commands.lessons import EXAMPLES
from plugin.events import JiraEvent
from plugin.jira.report_only import ReportOnlyJira
from plugin.policy.decision import Trigger
from plugin.policy.engine import PolicyEngine
from plugin.policy.loader import load_policy

ROOT = Path(__file__).resolve().parents[3]
POLICIES = [*sorted((ROOT / "deploy" / "policies").glob("*.yaml")), EXAMPLES / "policy.yaml"]
DELIVERIES = sorted((EXAMPLES / "deliveries").glob("*.json"))


@pytest.mark.parametrize("policy_path", POLICIES, ids=lambda p: p.name)
def test_a_shipped_policy_plans_every_action_offline_and_claims_no_failure(policy_path):
    policy = load_policy(policy_path)
    acted = 0
    for delivery in DELIVERIES:
        event = JiraEvent.from_payload(json.loads(delivery.read_text(encoding="utf-8")))
        if event.issue is None:
            continue
        engine = PolicyEngine(policy, ReportOnlyJira(snapshot=event.issue), offline=True)
        trigger = Trigger(event.webhook_event, delivery.name, event.actor, event.status_change)
        for decision in engine.evaluate_issue(event.issue, trigger):
            assert decision.status != "error", (delivery.name, decision.reasons)
            for action in decision.actions:
                acted += 1
                assert not action.result.startswith(("not possible", "failed")), (
                    delivery.name,
                    action,
                )
    if policy_path.name == "policy.yaml":
        assert acted  # the demo's policy does act on the examples


def test_the_demo_policy_plans_the_emergency_flag_instead_of_calling_it_impossible():
    policy = load_policy(EXAMPLES / "policy.yaml")
    raw = json.loads((EXAMPLES / "deliveries" / "02-emergency-change.json").read_text())
    event = JiraEvent.from_payload(raw)
    engine = PolicyEngine(policy, ReportOnlyJira(snapshot=event.issue), offline=True)
    trigger = Trigger(event.webhook_event, "02", event.actor, event.status_change)
    [decision] = [d for d in engine.evaluate_issue(event.issue, trigger) if d.actions]
    [flag] = [a for a in decision.actions if a.kind == "flag"]
    assert flag.result == "planned"
    assert "looked up in Jira when it is configured" in flag.detail
