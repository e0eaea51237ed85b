"""The sweep (overdue risk reviews, backstop for dropped deliveries) and the backtest."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from plugin.jira.port import ChangeEntry, ChangeItem
from plugin.policy.backtest import run_backtest
from plugin.policy.reasons import ApprovalMissing, NextReview, ReviewOverdue
from plugin.policy.sweep import run_sweep
from testkit.memory_jira import (
    ALICE,
    CAB,
    DONE,
    FIELDS,
    IN_PROGRESS,
    TODO,
    change_issue,
)


def test_sweep_flags_a_risk_whose_review_date_passed_once(policy, jira, clock):
    jira.put(change_issue(labels=("high-risk",), fields={FIELDS["Next review date"]: "2026-02-01"}))
    jira.put(change_issue("CHG-2", labels=("high-risk",),
                          fields={FIELDS["Next review date"]: "2026-04-01"}))  # fmt: skip
    result = run_sweep(policy, jira, clock=clock)

    overdue = {  # the overdue check's decisions (the backstop's follow them)
        d.issue_key: d for _, d in result.decisions
        if d.reasons and isinstance(d.reasons[0], NextReview)
    }  # fmt: skip
    assert overdue["CHG-1"].status == "fail"
    assert overdue["CHG-1"].headline == ReviewOverdue(date(2026, 2, 1))
    assert overdue["CHG-1"].reasons == (NextReview(date(2026, 2, 1)),)
    assert overdue["CHG-2"].status == "pass"
    assert "risk-review-overdue" in jira.issues["CHG-1"].labels
    assert "2026-02-01" in jira.issues["CHG-1"].comments[0].body
    assert "risk-review-overdue" not in jira.issues["CHG-2"].labels

    writes = len(jira.writes)
    run_sweep(policy, jira, clock=clock)
    assert len(jira.writes) == writes  # nothing new to say

    jira.set_by("CHG-1", "Next review date", "2026-05-01", by=ALICE, text="2026-05-01")
    run_sweep(policy, jira, clock=clock)
    assert "risk-review-overdue" not in jira.issues["CHG-1"].labels


def test_sweep_is_the_backstop_for_a_dropped_delivery(policy, jira, clock):
    jira.put(change_issue(fields={FIELDS["Change type"]: {"value": "Normal"}}))
    jira.move("CHG-1", DONE)  # Jira never delivered this event
    result = run_sweep(policy, jira, clock=clock, run_id="sweep-1")

    [decision] = [d for _, d in result.decisions if d.rule == "change-control"]
    assert decision.status == "fail"
    assert jira.issues["CHG-1"].status == IN_PROGRESS
    triggers = {t.delivery_key for t, _ in result.decisions}
    assert triggers == {"sweep-1"}

    writes = len(jira.writes)
    run_sweep(policy, jira, clock=clock)  # the revert is now the latest move: nothing to do
    assert len(jira.writes) == writes


def test_sweep_in_report_only_writes_nothing(policy, jira, clock):
    jira.put(change_issue(fields={FIELDS["Change type"]: {"value": "Normal"}}))
    jira.move("CHG-1", DONE)
    result = run_sweep(policy, jira, clock=clock, report_only=True)
    assert jira.writes == []
    assert any(d.status == "fail" for _, d in result.decisions)


def test_backtest_judges_each_past_move_on_the_state_of_its_time(policy, jira, clock):
    # first closed without approval, reopened, approved by the board, closed again
    impacts = ("Impact on scope", "Impact on schedule", "Impact on cost", "Impact on quality")
    fields = {FIELDS["Change type"]: {"value": "Normal"}, **{FIELDS[n]: "low" for n in impacts}}
    issue = jira.put(change_issue(status=TODO, fields=fields))
    jira.move(issue.key, IN_PROGRESS)
    jira.move(issue.key, DONE)
    jira.move(issue.key, IN_PROGRESS)
    jira.set_by(issue.key, "Approval", {"value": "Approved"}, by=CAB, text="Approved")
    jira.move(issue.key, DONE)
    writes = len(jira.writes)

    findings = [f for f in run_backtest(policy, jira, "project = CHG", clock=clock)
                if f.decision.rule == "change-control"]  # fmt: skip
    assert [(f.moved, f.decision.status) for f in findings] == [
        ("In Progress -> Done", "fail"),
        ("In Progress -> Done", "pass"),
    ]
    assert ApprovalMissing("Approval", "Approved", "cab") in findings[0].decision.unmet
    assert findings[0].decision.actions == ()
    assert jira.writes[writes:] == []  # read-only


def test_backtest_undoes_later_label_and_field_changes(policy, jira, clock):
    issue = jira.put(change_issue(status=IN_PROGRESS))
    history = (
        ChangeEntry("1", "t1", ALICE, (ChangeItem("status", "status", "3", "In Progress",
                                                  "10002", "Done"),)),
        ChangeEntry("2", "t2", ALICE, (ChangeItem("labels", "labels", None, "", None, "high-risk"),
                                       ChangeItem("Change type", FIELDS["Change type"], None,
                                                  "Normal", None, "Emergency"))),
    )  # fmt: skip
    jira.put(replace(issue, status=DONE, labels=("high-risk",), changelog=history,
                     fields={FIELDS["Change type"]: {"value": "Emergency"}}))  # fmt: skip
    findings = list(run_backtest(policy, jira, "project = CHG", clock=clock))
    change = next(f for f in findings if f.decision.rule == "change-control")
    assert change.decision.change_type == "normal"  # as it was when it was closed
    assert all(f.decision.rule != "risk-review" for f in findings)  # not yet labelled high-risk


def test_sweep_leaves_issues_not_updated_recently(policy, jira, clock):
    jira.put(change_issue(fields={FIELDS["Change type"]: {"value": "Normal"}}))
    jira.move("CHG-1", DONE)
    jira.issues["CHG-1"] = replace(jira.issues["CHG-1"], updated="2026-03-01T09:00:00.000+0000")
    result = run_sweep(policy, jira, clock=clock)  # the clock says 2026-03-02T09:00Z
    assert [d for _, d in result.decisions if d.rule == "change-control"] == []
    assert jira.issues["CHG-1"].status == DONE
