"""The engine against the in-memory Jira: verdicts, reasons, and exactly which writes it makes."""

from __future__ import annotations

from dataclasses import replace

from plugin.jira.errors import JiraApiError
from plugin.jira.port import IssueLink, IssueRef, IssueType
from plugin.policy.decision import Trigger
from plugin.policy.engine import PolicyEngine
from plugin.policy.loader import parse_policy
from plugin.policy.reasons import (
    ApprovalByNonMember,
    ApprovalMissing,
    EvaluationError,
    ExemptionIgnored,
    FieldEmpty,
    LikelihoodTimesImpact,
    PriorityAtLeast,
    RelatedMissing,
    ReviewNotDone,
    Risky,
    StaleEvent,
    Waived,
)
from plugin.policy.render import violation_comment
from testkit.memory_jira import (
    ALICE,
    CAB,
    DONE,
    FIELDS,
    IN_PROGRESS,
    TODO,
    MemoryJira,
    change_issue,
    standard_workflow,
)
from tests.plugin.policy.conftest import POLICY_YAML

IMPACTS = ("Impact on scope", "Impact on schedule", "Impact on cost", "Impact on quality")


def _normal_change(jira: MemoryJira, key: str = "CHG-1", **overrides):
    fields = {FIELDS["Change type"]: {"value": "Normal"}}
    return jira.put(change_issue(key, fields=fields, **overrides))


def _fill_impacts(jira: MemoryJira, key: str) -> None:
    issue = jira.issues[key]
    values = {FIELDS[name]: "Low" for name in IMPACTS}
    jira.issues[key] = issue.__class__(**{**issue.__dict__, "fields": {**issue.fields, **values}})


def _done(jira: MemoryJira, engine: PolicyEngine, key: str = "CHG-1"):
    change = jira.move(key, DONE)
    writes_before = len(jira.writes)
    decisions = engine.evaluate(key, Trigger("jira:issue_updated", "d-1", ALICE, change))
    return {d.rule: d for d in decisions}, jira.writes[writes_before:]


def test_normal_change_without_approval_is_reverted_with_a_comment_naming_what_is_missing(
    policy, jira, clock
):
    _normal_change(jira)
    engine = PolicyEngine(policy, jira, clock=clock)
    decisions, writes = _done(jira, engine)

    decision = decisions["change-control"]
    assert decision.status == "fail"
    assert decision.change_type == "normal"
    assert [w[0] for w in writes] == ["add_comment", "add_labels", "transition"]
    missing = (
        *(FieldEmpty(name) for name in IMPACTS),
        ApprovalMissing("Approval", "Approved", "cab"),
    )
    assert decision.unmet == missing
    assert decision.reasons == missing
    # the comment is the renderer's wording of exactly those findings, under the rule's marker
    comment = writes[0][2]
    assert comment.startswith("{anchor:hindsight-change-control}")
    assert comment.endswith(
        violation_comment(
            rule_name="change-control",
            description=policy.rules[0].description,
            label="policy-violation",
            moved_to="Done",
            moved_from="In Progress",
            missing=missing,
            impossible=None,
            unflaggable=None,
            flagged_marker="",
        )
    )
    assert writes[2][2] == {"id": "41", "fields": {"resolution": None}}
    assert jira.issues["CHG-1"].status == IN_PROGRESS
    assert "policy-violation" in jira.issues["CHG-1"].labels
    assert {a.kind: a.result for a in decision.actions}["revert"] == "done"


def test_approved_change_by_a_cab_member_passes_and_writes_nothing(policy, jira, clock):
    _normal_change(jira)
    _fill_impacts(jira, "CHG-1")
    jira.set_by("CHG-1", "Approval", {"value": "Approved"}, by=CAB, text="Approved")
    decisions, writes = _done(jira, PolicyEngine(policy, jira, clock=clock))

    assert decisions["change-control"].status == "pass"
    assert decisions["change-control"].noteworthy
    assert writes == []
    assert jira.issues["CHG-1"].status == DONE


def test_approval_by_someone_outside_the_group_does_not_count(policy, jira, clock):
    _normal_change(jira)
    _fill_impacts(jira, "CHG-1")
    jira.set_by("CHG-1", "Approval", {"value": "Approved"}, by=ALICE, text="Approved")
    decisions, _ = _done(jira, PolicyEngine(policy, jira, clock=clock))

    assert decisions["change-control"].status == "fail"
    assert decisions["change-control"].unmet == (
        ApprovalByNonMember("Approval", "Approved", "cab", by="Alice"),
    )


def test_standard_change_has_lighter_requirements(policy, jira, clock):
    jira.put(
        change_issue(
            fields={
                FIELDS["Change type"]: {"value": "Standard"},
                FIELDS["Backout plan"]: "restore snapshot",
            }
        )
    )
    decisions, writes = _done(jira, PolicyEngine(policy, jira, clock=clock))
    assert decisions["change-control"].change_type == "standard"
    assert decisions["change-control"].status == "pass"
    assert writes == []


def test_emergency_change_passes_gets_its_review_and_is_flagged_until_the_review_is_done(
    policy, jira, clock
):
    jira.put(change_issue(fields={FIELDS["Change type"]: {"value": "Emergency"}}))
    engine = PolicyEngine(policy, jira, clock=clock)
    decisions, writes = _done(jira, engine)

    decision = decisions["change-control"]
    assert decision.status == "pass"
    assert decision.change_type == "emergency"
    created = [w for w in writes if w[0] == "create_subtask"]
    assert len(created) == 1
    assert created[0][2]["summary"] == "Post-implementation review"
    assert created[0][2]["fields"] == {"duedate": "2026-03-05"}  # clock + 3 days
    parent = jira.issues["CHG-1"]
    assert parent.status == DONE
    assert "emergency-change" in parent.labels
    assert parent.fields[FIELDS["Flagged"]] == [{"value": "Impediment"}]

    # the review is done: a later evaluation (e.g. the sub-task's event) lifts label and flag
    review_key = parent.subtasks[0].key
    jira.move(review_key, DONE)
    engine.evaluate("CHG-1", Trigger("jira:issue_updated", "d-2", ALICE, None))
    parent = jira.issues["CHG-1"]
    assert "emergency-change" not in parent.labels
    assert parent.fields[FIELDS["Flagged"]] is None


def test_the_same_event_twice_acts_once(policy, jira, clock):
    _normal_change(jira)
    engine = PolicyEngine(policy, jira, clock=clock)
    change = jira.move("CHG-1", DONE)
    trigger = Trigger("jira:issue_updated", "d-1", ALICE, change)
    engine.evaluate("CHG-1", trigger)
    writes = len(jira.writes)

    again = {d.rule: d for d in engine.evaluate("CHG-1", trigger)}
    assert len(jira.writes) == writes
    assert again["change-control"].status == "skipped"
    assert again["change-control"].headline == StaleEvent(moved_to="Done", now_in="In Progress")


def test_a_second_violation_edits_the_one_comment_instead_of_adding_another(policy, jira, clock):
    _normal_change(jira)
    engine = PolicyEngine(policy, jira, clock=clock)
    _done(jira, engine)
    _fill_impacts(jira, "CHG-1")
    _, writes = _done(jira, engine)

    assert [w[0] for w in writes] == ["edit_comment", "transition"]
    comments = jira.issues["CHG-1"].comments
    assert len(comments) == 1
    assert "Impact on scope" not in comments[0].body
    assert "approval" in comments[0].body


def test_passing_after_a_violation_updates_the_comment_and_drops_the_label(policy, jira, clock):
    _normal_change(jira)
    engine = PolicyEngine(policy, jira, clock=clock)
    _done(jira, engine)
    _fill_impacts(jira, "CHG-1")
    jira.set_by("CHG-1", "Approval", {"value": "Approved"}, by=CAB, text="Approved")
    decisions, writes = _done(jira, engine)

    assert decisions["change-control"].status == "pass"
    assert [w[0] for w in writes] == ["edit_comment", "remove_labels"]
    assert "now met" in jira.issues["CHG-1"].comments[0].body


def test_without_a_way_back_it_falls_back_to_comment_label_and_flag(policy, clock):
    jira = MemoryJira(workflow=standard_workflow(way_back=False))
    _normal_change(jira)
    decisions, writes = _done(jira, PolicyEngine(policy, jira, clock=clock))

    decision = decisions["change-control"]
    assert decision.status == "fail"
    assert [w[0] for w in writes] == ["add_comment", "add_labels", "set_fields"]
    assert "could not move it back" in writes[0][2]
    assert "no transition from Done back to In Progress" in writes[0][2]
    revert = next(a for a in decision.actions if a.kind == "revert")
    assert revert.result.startswith("not possible")
    assert jira.issues["CHG-1"].status == DONE


def test_resolution_is_not_sent_when_the_way_back_screen_lacks_it(policy, clock):
    jira = MemoryJira(workflow=standard_workflow(done_has_resolution=False))
    _normal_change(jira)
    _, writes = _done(jira, PolicyEngine(policy, jira, clock=clock))
    assert writes[-1] == ("transition", "CHG-1", {"id": "41", "fields": None})
    assert jira.issues["CHG-1"].status == IN_PROGRESS


def test_a_refused_revert_is_recorded_and_the_change_is_flagged(policy, jira, clock):
    jira.fail("transition_issue", status=403, message="no permission")
    _normal_change(jira)
    decisions, writes = _done(jira, PolicyEngine(policy, jira, clock=clock))

    revert = next(a for a in decisions["change-control"].actions if a.kind == "revert")
    assert revert.result.startswith("failed: POST /rest/api/2/issue/CHG-1/transitions -> HTTP 403")
    assert [w[0] for w in writes] == [
        "add_comment",
        "add_labels",
        "transition",
        "set_fields",
        "edit_comment",
    ]
    assert "Jira refused the transition back" in jira.issues["CHG-1"].comments[0].body


def test_report_only_records_the_same_decision_and_writes_nothing(jira, clock):
    policy = parse_policy(POLICY_YAML.replace("mode: enforce", "mode: report-only"))
    _normal_change(jira)
    decisions, writes = _done(jira, PolicyEngine(policy, jira, clock=clock))

    decision = decisions["change-control"]
    assert writes == []
    assert decision.status == "fail"
    assert decision.mode == "report-only"
    assert {a.kind for a in decision.actions} == {"comment", "label", "revert"}
    assert all(a.result == "planned" for a in decision.actions)


def test_an_exemption_label_set_by_a_group_member_waives_the_rule(policy, jira, clock):
    jira.groups["alice-1"] = frozenset({"change-managers"})
    _normal_change(jira)
    jira.label_by("CHG-1", "change-exempt", by=ALICE)
    decisions, writes = _done(jira, PolicyEngine(policy, jira, clock=clock))

    decision = decisions["change-control"]
    assert decision.status == "skipped"
    assert decision.exemption is not None
    assert decision.exemption.by == "Alice"
    assert decision.exemption.group == "change-managers"
    assert decision.headline == decision.exemption
    assert Waived(FieldEmpty("Impact on scope")) in decision.reasons
    assert writes == []


def test_an_exemption_label_set_by_an_outsider_is_ignored(policy, jira, clock):
    _normal_change(jira)
    jira.label_by("CHG-1", "change-exempt", by=ALICE)
    decisions, _ = _done(jira, PolicyEngine(policy, jira, clock=clock))
    decision = decisions["change-control"]
    assert decision.status == "fail"
    assert ExemptionIgnored("change-exempt", "change-managers", by="Alice") in decision.reasons


def test_a_risky_issue_gets_a_risk_review_assigned_to_the_risk_owner(policy, jira, clock):
    owner = {"accountId": "olga-1", "displayName": "Olga"}
    jira.put(change_issue(priority="Highest", fields={FIELDS["Risk owner"]: owner}))
    engine = PolicyEngine(policy, jira, clock=clock)
    decisions = {d.rule: d for d in engine.evaluate("CHG-1", Trigger("jira:issue_created"))}

    decision = decisions["risk-review"]
    assert decision.status == "pass"
    assert decision.reasons[0] == Risky((PriorityAtLeast("Highest", "High"),))
    created = [w for w in jira.writes if w[0] == "create_subtask"]
    assert len(created) == 1
    assert created[0][2]["assignee"].account_id == "olga-1"

    engine.evaluate("CHG-1", Trigger("jira:issue_updated"))
    assert len([w for w in jira.writes if w[0] == "create_subtask"]) == 1


def test_likelihood_times_impact_makes_an_issue_risky(policy, jira, clock):
    jira.put(
        change_issue(fields={FIELDS["Likelihood"]: {"value": "4 - Likely"}, FIELDS["Impact"]: 3})
    )
    decisions = PolicyEngine(policy, jira, clock=clock).evaluate("CHG-1", Trigger("x"))
    risk = next(d for d in decisions if d.rule == "risk-review")
    assert risk.reasons[0] == Risky((LikelihoodTimesImpact("Likelihood", "Impact", 4, 3, 12),))


def test_a_risky_issue_cannot_close_while_its_review_is_open(policy, jira, clock):
    jira.put(
        change_issue(
            labels=("high-risk",),
            fields={
                FIELDS["Change type"]: {"value": "Standard"},
                FIELDS["Backout plan"]: "yes",
                FIELDS["Risk response"]: {"value": "Mitigate"},
                FIELDS["Risk owner"]: "olga",
                FIELDS["Next review date"]: "2026-04-01",
            },
        )
    )
    engine = PolicyEngine(policy, jira, clock=clock)
    engine.evaluate("CHG-1", Trigger("jira:issue_created"))
    review = jira.issues["CHG-1"].subtasks[0].key

    decisions, _ = _done(jira, engine)
    assert decisions["risk-review"].status == "fail"
    assert decisions["risk-review"].unmet[0] == ReviewNotDone("Risk review", key=review)
    assert jira.issues["CHG-1"].status == IN_PROGRESS

    jira.move(review, DONE)
    decisions, writes = _done(jira, engine)
    assert decisions["risk-review"].status == "pass"
    assert jira.issues["CHG-1"].status == DONE
    assert [w[0] for w in writes] == ["edit_comment", "remove_labels"]


def test_two_failing_rules_revert_once_and_each_comments(policy, jira, clock):
    _normal_change(jira, priority="High")
    engine = PolicyEngine(policy, jira, clock=clock)
    engine.evaluate("CHG-1", Trigger("jira:issue_created"))
    decisions, writes = _done(jira, engine)

    assert decisions["change-control"].status == "fail"
    assert decisions["risk-review"].status == "fail"
    assert [w[0] for w in writes].count("transition") == 1
    assert [w[0] for w in writes].count("add_comment") == 2
    assert [w[0] for w in writes].count("add_labels") == 1


def test_an_unknown_field_name_is_an_error_decision_that_says_what_to_fix(jira, clock):
    policy = parse_policy(POLICY_YAML.replace("[Backout plan]", "[Backout plan v2]"))
    jira.put(change_issue(fields={FIELDS["Change type"]: {"value": "Standard"}}))
    decisions, writes = _done(jira, PolicyEngine(policy, jira, clock=clock))
    decision = decisions["change-control"]
    assert decision.status == "error"
    [error] = decision.reasons
    assert isinstance(error, EvaluationError)
    assert "field 'Backout plan v2' is not known to Jira" in error.message
    assert writes == []


def test_a_retryable_jira_failure_propagates_so_the_delivery_is_retried(policy, jira, clock):
    _normal_change(jira)
    jira.fail("transition_issue", status=503, message="busy", times=1)
    change = jira.move("CHG-1", DONE)
    engine = PolicyEngine(policy, jira, clock=clock)
    try:
        engine.evaluate("CHG-1", Trigger("jira:issue_updated", "d", ALICE, change))
    except JiraApiError as exc:
        assert exc.retryable
    else:
        raise AssertionError("a 503 must reach the dispatcher")
    engine.evaluate("CHG-1", Trigger("jira:issue_updated", "d", ALICE, change))
    kinds = [w[0] for w in jira.writes]
    assert kinds.count("add_comment") == 1 and kinds.count("add_labels") == 1
    assert jira.issues["CHG-1"].status == IN_PROGRESS


def test_out_of_scope_issues_are_skipped(policy, jira, clock):
    jira.put(change_issue("OPS-1", fields={}))
    decisions, writes = _done(jira, PolicyEngine(policy, jira, clock=clock), "OPS-1")
    assert all(d.status == "skipped" for d in decisions.values())
    assert not any(d.noteworthy for d in decisions.values())
    assert writes == []


def test_link_and_subtask_requirements_count_only_done_matching_issues(jira, clock):
    policy = parse_policy(
        "version: 1\nrules:\n  - name: tested\n    kind: change-control\n"
        "    guard: {categories: [done]}\n    requires:\n"
        "      links: [{link: is tested by, issue_type: Test}]\n"
        "      subtasks: [{summary: Backout, at_least: 1}]\n"
    )
    test_type = IssueType("7", "Test")
    link = IssueLink("Tests", "inward", "is tested by", IssueRef("QA-1", "1", "t", TODO, test_type))
    jira.put(change_issue(links=(link,)))
    decisions, _ = _done(jira, PolicyEngine(policy, jira, clock=clock))
    assert decisions["tested"].unmet == (
        RelatedMissing(
            "link", at_least=1, found=0, done=True, issue_type="Test", link="is tested by"
        ),
        RelatedMissing("subtask", at_least=1, found=0, done=True, summary="Backout"),
    )

    done_link = IssueLink(
        "Tests", "inward", "is tested by", IssueRef("QA-1", "1", "t", DONE, test_type)
    )
    jira.issues["CHG-1"] = replace(jira.issues["CHG-1"], links=(done_link,), status=IN_PROGRESS)
    decisions, _ = _done(jira, PolicyEngine(policy, jira, clock=clock))
    assert [r.relation for r in decisions["tested"].unmet] == ["subtask"]  # only it is missing now
