"""The wording of policy findings, checked once, here: every other test compares the data."""

from __future__ import annotations

from datetime import date

import pytest

from plugin.policy import reasons as r
from plugin.policy.decision import ActionRecord, PolicyDecision
from plugin.policy.render import (
    overdue_review_comment,
    render_decisions,
    requirement_line,
    requirements_met_comment,
    text,
    violation_comment,
)

WORDING = [
    (r.FieldEmpty("Impact"), "missing: 'Impact' is empty (fill in 'Impact')"),
    (
        r.FieldValueNotAllowed("Risk level", ("Low", "Medium"), ()),
        "missing: 'Risk level' is empty, not Low or Medium (set 'Risk level' to Low or Medium)",
    ),
    (
        r.FieldValueNotAllowed("Risk level", ("Low",), ("High",)),
        "missing: 'Risk level' is High, not Low (set 'Risk level' to Low)",
    ),
    (
        r.ApprovalMissing("Approval", "Approved", "cab"),
        "missing: approval: 'Approval' is not Approved "
        "(a member of 'cab' sets 'Approval' to Approved)",
    ),
    (
        r.ApprovalUncheckable("Approval", "Approved", "cab"),
        "missing: approval by a member of 'cab' cannot be checked without Jira "
        "(run `hindsight policy explain` against Jira to check group membership)",
    ),
    (
        r.ApprovalByNonMember("Approval", "Approved", "cab", by="Alice"),
        "missing: approval: 'Approval' was set to Approved by Alice, who is not a member of "
        "'cab' (a member of 'cab' sets 'Approval' to Approved)",
    ),
    (
        r.ApprovalAuthorUnknown("Approval", "Approved", "cab"),
        "missing: approval: the history does not show who set 'Approval' to Approved "
        "(a member of 'cab' sets 'Approval' to Approved)",
    ),
    (
        r.RelatedMissing("link", 1, 0, True, "Test", link="is tested by"),
        "missing: 1 done Test linked issue ('is tested by') needed, 0 found "
        "(link and finish the linked issue)",
    ),
    (
        r.RelatedMissing("subtask", 2, 1, False, summary="Verify"),
        "missing: 2 sub-tasks named 'Verify' needed, 1 found (add and finish the sub-task)",
    ),
    (
        r.ReviewNotDone("Risk review", "CHG-2"),
        "missing: the risk review CHG-2 is not done (finish the risk review first)",
    ),
    (
        r.ReviewNotDone("Risk review"),
        "missing: the risk review 'Risk review' is not done (finish the risk review first)",
    ),
    (r.Waived(r.FieldEmpty("Impact")), "waived: 'Impact' is empty (fill in 'Impact')"),
    (
        r.ExemptionIgnored("change-exempt", "managers", None),
        "label 'change-exempt' ignored: the changelog does not say who added it, so "
        "membership of 'managers' cannot be checked",
    ),
    (
        r.ExemptionIgnored("change-exempt", "managers", "Bob"),
        "label 'change-exempt' ignored: added by Bob, who is not a member of 'managers'",
    ),
    (r.EmergencyChange(), "emergency change: allowed through without the normal requirements"),
    (
        r.ReviewState("post-implementation", "PIR", "needed"),
        "post-implementation review 'PIR' needed",
    ),
    (r.ReviewState("risk", "Risk review", "done", "CHG-3"), "risk review CHG-3 is done"),
    (
        r.Risky(
            (
                r.PriorityAtLeast("Highest", "High"),
                r.RiskyLabel("high-risk"),
                r.ScoreAtLeast("Risk score", 16.0, 15.0),
                r.LikelihoodTimesImpact("Likelihood", "Impact", 4.0, 3.0, 12.0),
            )
        ),
        "risky: priority Highest is at or above High; labelled high-risk; Risk score 16 >= 15; "
        "Likelihood x Impact = 4 x 3 = 12 >= 12",
    ),
    (r.EvaluationError("field 'X' is not known to Jira"), "field 'X' is not known to Jira"),
    (r.NextReview(date(2026, 2, 1)), "next review: 2026-02-01"),
    (r.NextReview(None), "next review: not set"),
    (
        r.OutOfScope("project", "OPS", ("CHG", "RISK")),
        "out of scope: project OPS is not one of CHG, RISK",
    ),
    (r.OutOfScope("labels", None, ("a", "b")), "out of scope: has none of the labels a, b"),
    (r.OutOfScope("excluded label", "wip", ("wip",)), "out of scope: has the excluded label wip"),
    (
        r.OutOfScope("status category", "done", ("new",)),
        "out of scope: status category done is not in scope",
    ),
    (
        r.OutOfScope("field", None, ("A", "B"), field="Team"),
        "out of scope: 'Team' is not one of A, B",
    ),
    (
        r.StaleEvent("Done", "In Progress"),
        "stale event: it moved the issue to Done, but the issue is now in In Progress",
    ),
    (r.NotGuarded(), "no guarded transition"),
    (r.EmergencyNotGuarded(), "emergency change not yet in a guarded status"),
    (r.EmergencyAllowed(review_open=True), "emergency change allowed; review open"),
    (r.SubtaskNotAssessed(), "sub-tasks are not risk-assessed"),
    (r.NotRisky(), "not risky"),
    (r.RiskyAwaitingReview(), "risky; review opened"),
    (r.RiskyAwaitingReview("CHG-4"), "risky; review CHG-4 exists"),
    (r.RequirementsMet("Done"), "requirements met for Done"),
    (r.ExemptionApplied("x", "Ann"), "exempt: label 'x' is present"),
    (r.ExemptionApplied("x", "Ann", "out of band"), "exempt: out of band"),
    (
        r.ExemptionApplied("x", "Ann", "out of band", "managers"),
        "exempt: out of band; label 'x' added by Ann, member of 'managers'",
    ),
    (
        r.RequirementsUnmet("Done", 2),
        "moved to Done without meeting 2 requirement(s)",
    ),
    (r.CouldNotEvaluate(), "could not evaluate"),
    (r.ReviewOverdue(date(2026, 2, 1)), "risk review overdue since 2026-02-01"),
    (r.ReviewDateNotPassed(), "risk review date not passed"),
    (r.RevertImpossible("guard"), "this rule's guard says revert: false"),
    (
        r.RevertImpossible("no-way-back", "In Progress", "Done"),
        "this workflow has no transition from Done back to In Progress",
    ),
    (
        r.RevertImpossible("refused", failure="HTTP 403"),
        "Jira refused the transition back (HTTP 403)",
    ),
]


@pytest.mark.parametrize(("finding", "words"), WORDING, ids=lambda v: getattr(v, "code", ""))
def test_each_finding_has_its_words(finding, words):
    assert text(finding) == words


def _concrete(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += _concrete(sub)
        if not sub.__subclasses__():
            found.append(sub)
    return found


def test_every_kind_of_finding_is_worded_and_has_its_own_code():
    kinds = _concrete(r.Reason)
    worded = {type(f) for f, _ in WORDING}
    worded |= {type(s) for f, _ in WORDING if isinstance(f, r.Risky) for s in f.signals}
    assert worded == set(kinds)
    assert len({k.code for k in kinds}) == len(kinds)


def test_findings_are_data_with_their_code():
    finding = r.Waived(r.FieldValueNotAllowed("Risk level", ("Low",), ("High",)))
    assert finding.to_dict() == {
        "code": "waived",
        "requirement": {
            "code": "field-value",
            "field": "Risk level",
            "expected": ["Low"],
            "actual": ["High"],
        },
    }


MISSING = (r.FieldEmpty("Impact"), r.ApprovalMissing("Approval", "Approved", "cab"))
HEAD = (
    "*Hindsight policy: rule change-control*\n"
    "This issue was moved to *Done* before these requirements were met:\n"
    "* 'Impact' is empty: fill in 'Impact'\n"
    "* approval: 'Approval' is not Approved: a member of 'cab' sets 'Approval' to Approved\n\n"
)


def _comment(**changes) -> str:
    base = dict(
        rule_name="change-control",
        description=" Changes follow the process. ",
        label="policy-violation",
        moved_to="Done",
        moved_from="In Progress",
        missing=MISSING,
        impossible=None,
        unflaggable=None,
        flagged_marker="{anchor:hindsight-change-control-flagged}",
    )
    return violation_comment(**{**base, **changes})


def test_the_violation_comment_after_a_revert():
    assert _comment() == HEAD + (
        "It was moved back to *In Progress*. Fix the items above, then move it to *Done* again."
        "\n\n_Changes follow the process._"
    )


def test_the_violation_comment_when_it_could_not_move_back():
    no_way = r.RevertImpossible("no-way-back", "In Progress", "Done")
    assert _comment(impossible=no_way, description=None) == HEAD + (
        "Hindsight could not move it back (this workflow has no transition from Done back to "
        "In Progress), so it is flagged and labelled _policy-violation_ until the requirements "
        "are met.{anchor:hindsight-change-control-flagged}"
    )
    unflaggable = _comment(
        impossible=r.RevertImpossible("guard"),
        description=None,
        unflaggable="'Flagged' is not on the edit screen",
    )
    assert unflaggable == HEAD + (
        "Hindsight could not move it back (this rule's guard says revert: false), so it is "
        "labelled _policy-violation_ until the requirements are met. It could not flag it: "
        "'Flagged' is not on the edit screen."
    )


def test_the_other_comments():
    assert requirement_line(MISSING[0]) == "* 'Impact' is empty: fill in 'Impact'"
    assert requirements_met_comment("cc", "Done") == (
        "*Hindsight policy: rule cc*\nThe requirements for Done are now met. Thank you."
    )
    assert overdue_review_comment("risk", "2026-02-01", "Next review") == (
        "*Hindsight policy: rule risk*\nThe next risk review was due on *2026-02-01* and has "
        "not happened. Review the risk, then set 'Next review' to the date of the next review."
    )


def test_decisions_in_the_terminal():
    decision = PolicyDecision(
        rule="change-control",
        kind="change-control",
        issue_key="CHG-1",
        mode="enforce",
        status="skipped",
        headline=r.ExemptionApplied("change-exempt", "Ann", "out of band"),
        reasons=(r.Waived(MISSING[0]),),
        actions=(ActionRecord("label", "add change-exempt", "planned"),),
        exemption=r.ExemptionApplied("change-exempt", "Ann", "out of band"),
        change_type="normal",
    )
    assert render_decisions([decision]) == (
        "CHG-1 change-control (enforce) [normal change]: SKIPPED - exempt: out of band\n"
        "    - waived: 'Impact' is empty (fill in 'Impact')\n"
        "    exempt: out of band\n"
        "    > label: add change-exempt [planned]"
    )
    assert decision.to_dict()["reasons"] == ["waived: 'Impact' is empty (fill in 'Impact')"]
    assert decision.to_dict()["exemption"] == {
        "label": "change-exempt",
        "by": "Ann",
        "why": "out of band",
    }
