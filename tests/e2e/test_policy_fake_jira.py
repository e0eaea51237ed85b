"""End to end: fake Jira -> signed webhook -> Hindsight app and worker -> real adapter -> fake Jira.

The shipped example policies (deploy/policies/) run unchanged against the fake's change
workflow: To Do -> In Progress -> Awaiting approval -> Deploying -> Done, Reopen (Done -> In
Progress, no resolution on its screen), and no way back out of Deploying.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from hindsight.config import load_settings
from hindsight.wiring import Config, Runtime, build_runtime, install_policy
from hindsight.wsgi import create_app
from plugin.audit import AuditLog, SQLiteAuditLog
from plugin.events import JiraEvent
from plugin.policy.loader import PolicyError
from plugin.policy.reasons import (
    ApprovalByNonMember,
    ApprovalMissing,
    FieldEmpty,
    RelatedMissing,
    ReviewNotDone,
)
from plugin.policy.render import requirement_line
from testkit.fakejira.fake import FakeJira
from testkit.fakejira.fixtures import adapter_for
from testkit.fakejira.scenario import IMPACTS, add_policy_fields
from webhooks.queue import build_delivery_queue, build_huey

POLICIES = Path(__file__).resolve().parents[2] / "deploy" / "policies"
SECRET = "e2e-webhook-secret"
WRITES = ("POST", "PUT", "DELETE")
CAB = "change-advisory-board"


@dataclass
class Site:
    """The fake Jira wired to a Hindsight app whose worker runs each delivery inline."""

    fake: FakeJira
    runtime: Runtime
    client: FlaskClient
    audit: AuditLog
    responses: list

    def deliver(self) -> None:
        self.fake.deliver_webhooks()

    def bot_writes(self) -> list:
        bot = self.fake.service_account.name
        return [r for r in self.fake.requests if r.method in WRITES and r.user == bot]


@pytest.fixture
def make_site(fake_jira_factory, tmp_path) -> Callable[..., Site]:
    def make(policy: str | Path, *, report_only: bool = False, flavour: str = "cloud") -> Site:
        fake = fake_jira_factory(flavour)
        add_policy_fields(fake)
        policy_path = policy if isinstance(policy, Path) else tmp_path / "policy.yaml"
        if isinstance(policy, str):
            policy_path.write_text(policy)
        settings = load_settings(
            environ={},
            overrides={
                "db": tmp_path / "hindsight.db",
                "webhook_secret": [SECRET],
                "policy_file": policy_path,
                "policy_report_only": report_only,
            },
        )
        runtime = build_runtime(
            Config(settings), jira=adapter_for(fake), installers=[install_policy]
        )
        queue = build_delivery_queue(runtime, huey=build_huey("memory://", immediate=True))
        client = create_app(runtime=runtime, queue=queue, test_config={"TESTING": True})
        client = client.test_client()
        responses: list = []

        def post(webhook) -> None:
            response = client.post("/webhooks/jira", data=webhook.raw, headers=webhook.headers)
            responses.append(response)
            assert response.status_code in (200, 202), response.get_data(as_text=True)

        fake.send_webhooks_to(post, secret=SECRET)
        fake.clear_webhooks()
        return Site(fake, runtime, client, SQLiteAuditLog(settings.db), responses)

    return make


def _actor_id(body: dict) -> str | None:
    actor = JiraEvent.from_payload(body).actor
    return actor.account_id if actor else None


def _labels(issue) -> list[str]:
    return list(issue.fields.get("labels") or [])


def _normal_change(site: Site, **fields) -> str:
    key = site.fake.add_issue(
        "CHG", "Change", "Upgrade the billing database", status="In Progress",
        fields={"Change type": {"value": "Normal"}, **fields}, reporter="bob",
    )  # fmt: skip
    site.deliver()
    return key


def _complete_normal_change(site: Site) -> str:
    key = _normal_change(site, **{name: "low" for name in (*IMPACTS, "Backout plan")})
    site.fake.edit(key, {"Approval": {"value": "Approved"}}, as_user="dave")
    verify = site.fake.add_issue("CHG", "Sous-tâche", "Verify in production", parent=key)
    site.fake.move(verify, "In Progress", as_user="bob")
    site.fake.move(verify, "Done", as_user="bob")
    site.deliver()
    return key


def test_a_normal_change_closed_without_approval_is_reverted_with_a_comment(make_site):
    site = make_site(POLICIES / "itil-change.yaml")
    key = _normal_change(site)
    site.fake.move(key, "Done", as_user="bob")
    site.deliver()

    issue = site.fake.issue(key)
    assert issue.status.name == "In Progress"
    assert "change-policy-violation" in _labels(issue)
    comments = [c.body for c in site.fake.comments(key)]
    assert len(comments) == 2  # one per failing rule
    change = next(c for c in comments if "rule change-control" in c)
    for name in (*IMPACTS, "Backout plan"):
        assert requirement_line(FieldEmpty(name)) in change
    assert requirement_line(ApprovalMissing("Approval", "Approved", CAB)) in change
    assert "moved back to *In Progress*" in change
    verified = next(c for c in comments if "rule change-verified" in c)
    verify = RelatedMissing("subtask", at_least=1, found=0, done=True, summary="Verify")
    assert requirement_line(verify) in verified
    # Reopen's screen has no resolution: the revert sent no fields, and Jira cleared it
    reverts = [r for r in site.bot_writes() if r.path.endswith("/transitions")]
    assert len(reverts) == 1
    assert not (reverts[0].body or {}).get("fields")
    assert [e.outcome for e in site.audit.query(issue=key)] == ["fail", "fail"]


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_the_same_change_with_approval_passes(make_site, flavour):
    site = make_site(POLICIES / "itil-change.yaml", flavour=flavour)
    key = _complete_normal_change(site)
    site.fake.move(key, "Done", as_user="bob")
    site.deliver()

    assert site.fake.issue(key).status.name == "Done"
    assert site.fake.comments(key) == []
    assert site.bot_writes() == []
    outcomes = {e.rule: e.outcome for e in site.audit.query(issue=key)}
    assert outcomes == {"change-control": "pass", "change-verified": "pass"}


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_approval_by_someone_outside_the_board_does_not_count(make_site, flavour):
    site = make_site(POLICIES / "itil-change.yaml", flavour=flavour)
    key = _complete_normal_change(site)
    site.fake.edit(key, {"Approval": {"value": "Pending"}}, as_user="bob")
    site.fake.edit(key, {"Approval": {"value": "Approved"}}, as_user="bob")
    site.fake.move(key, "Done", as_user="bob")
    site.deliver()

    assert site.fake.issue(key).status.name == "In Progress"
    [comment] = site.fake.comments(key)
    outsider = ApprovalByNonMember(
        "Approval", "Approved", CAB, by=site.fake.user("bob").display_name
    )
    assert requirement_line(outsider) in comment.body


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_an_approval_older_than_the_newest_100_histories_still_counts(make_site, flavour):
    # Cloud's GET /issue embeds only the newest 100 histories, newest first: the approval
    # must be found in the older ones, and the latest move read as the latest.
    site = make_site(POLICIES / "itil-change.yaml", flavour=flavour)
    key = _complete_normal_change(site)
    for number in range(110):
        site.fake.edit(key, {"summary": f"Upgrade the billing database, take {number}"})
    site.fake.clear_webhooks()  # only the move below is delivered
    site.fake.move(key, "Done", as_user="bob")
    site.deliver()

    assert len(site.fake.issue(key).changelog) > 110
    assert site.fake.issue(key).status.name == "Done"
    assert site.bot_writes() == []
    outcomes = {e.rule: e.outcome for e in site.audit.query(issue=key)}
    assert outcomes == {"change-control": "pass", "change-verified": "pass"}


def _violation_comments(site: Site, key: str) -> dict[str, str]:
    """Rule name -> id of Hindsight's comment about it."""
    return {
        rule: c.id
        for c in site.fake.comments(key)
        for rule in ("change-control", "change-verified")
        if f"rule {rule}" in c.body and c.author is site.fake.service_account
    }


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_after_a_person_rewrites_hindsights_comment_the_next_event_edits_that_comment(
    make_site, flavour
):
    site = make_site(POLICIES / "itil-change.yaml", flavour=flavour)
    key = _normal_change(site)
    site.fake.move(key, "Done", as_user="bob")
    site.deliver()
    ours = _violation_comments(site, key)
    site.fake.rewrite_comment(key, ours["change-control"], "Noted, getting it approved.")
    site.fake.move(key, "Done", as_user="bob")  # again, still without approval
    site.deliver()

    comments = {c.id: c for c in site.fake.comments(key)}
    assert set(comments) == set(ours.values())  # no second comment
    rewritten = comments[ours["change-control"]]
    assert "rule change-control" in rewritten.body
    assert rewritten.update_author is site.fake.service_account
    assert site.fake.issue(key).status.name == "In Progress"


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_a_persons_comment_carrying_the_marker_is_never_touched(make_site, flavour):
    site = make_site(POLICIES / "itil-change.yaml", flavour=flavour)
    key = _normal_change(site)
    mark = "{anchor:hindsight-change-control}"
    pasted = site.fake.comment(
        key, f"{mark}Quoting Hindsight: approval is missing", as_user="alice"
    )
    claimed = site.fake.comment(
        key, "Mine too", as_user="alice", properties={"hindsight": {"markers": [mark]}}
    )  # even with the property set through the REST API, it is not Hindsight's comment
    before = {c.id: c.body for c in site.fake.comments(key)}
    site.fake.move(key, "Done", as_user="bob")
    site.deliver()

    comments = {c.id: c for c in site.fake.comments(key)}
    for theirs in (pasted, claimed):
        assert comments[theirs].body == before[theirs]
        assert comments[theirs].update_author is None
    assert set(_violation_comments(site, key)) == {"change-control", "change-verified"}
    assert len(comments) == 4


def test_a_comment_from_before_the_property_is_found_by_its_body_marker(make_site):
    # Data Center keeps the {anchor} macro in the body: older Hindsight comments carry only it
    site = make_site(POLICIES / "itil-change.yaml", flavour="server")
    key = _normal_change(site)
    bot = site.fake.service_account
    legacy = site.fake.comment(
        key,
        "{anchor:hindsight-change-control}*Hindsight policy: rule change-control*\nOld",
        as_user=bot,
    )
    site.fake.move(key, "Done", as_user="bob")
    site.deliver()

    assert _violation_comments(site, key)["change-control"] == legacy
    edited = next(c for c in site.fake.comments(key) if c.id == legacy)
    assert requirement_line(ApprovalMissing("Approval", "Approved", CAB)) in edited.body
    assert edited.properties["hindsight"] == {"markers": ["{anchor:hindsight-change-control}"]}
    assert len(site.fake.comments(key)) == 2


def test_an_emergency_change_passes_and_gets_its_review_subtask(make_site):
    site = make_site(POLICIES / "itil-change.yaml")
    key = site.fake.add_issue(
        "CHG", "Change", "Hotfix the login outage", status="In Progress",
        fields={"Change type": {"value": "Emergency"}}, reporter="bob",
    )  # fmt: skip
    site.fake.move(key, "Deploying", as_user="bob")  # "Emergency deploy"
    site.deliver()

    issue = site.fake.issue(key)
    assert issue.status.name == "Deploying"
    [review] = [site.fake.issue(k) for k in issue.subtasks]
    assert review.fields["summary"] == "Post-implementation review"
    assert review.issuetype.name == "Sous-tâche"  # chosen by its subtask flag, not its name
    assert review.fields.get("duedate")
    assert "emergency-change" in _labels(issue)
    assert issue.fields.get("customfield_10021") == [{"value": "Impediment"}]

    site.fake.move(review.key, "In Progress", as_user="bob")
    site.fake.move(review.key, "Done", as_user="bob")
    site.deliver()
    issue = site.fake.issue(key)
    assert "emergency-change" not in _labels(issue)
    assert not issue.fields.get("customfield_10021")
    assert len(issue.subtasks) == 1


def test_a_workflow_without_a_way_back_falls_back_to_comment_label_and_flag(make_site):
    site = make_site(POLICIES / "itil-change.yaml")
    key = _normal_change(site)
    site.fake.move(key, "Awaiting approval", as_user="bob")
    site.fake.move(key, "Deploying", as_user="bob")  # "Approve", without the board
    site.deliver()

    issue = site.fake.issue(key)
    assert issue.status.name == "Deploying"  # nothing leads back out of Deploying
    assert issue.fields.get("customfield_10021") == [{"value": "Impediment"}]
    assert "change-policy-violation" in _labels(issue)
    [comment] = site.fake.comments(key)
    assert "could not move it back" in comment.body
    assert "no transition from Deploying back to Awaiting approval" in comment.body
    [entry] = site.audit.query(issue=key)
    revert = next(a for a in entry.actions if a["kind"] == "revert")
    assert revert["result"].startswith("not possible")


def test_a_high_risk_issue_gets_its_review_and_cannot_close_until_it_is_done(make_site):
    site = make_site(POLICIES / "pmbok-risk-register.yaml")
    key = site.fake.add_issue(
        "CHG", "Task", "Vendor may miss the go-live date", status="In Progress",
        labels=["high-risk"], reporter="bob",
        fields={"Risk owner": {"accountId": site.fake.user("carol").account_id},
                "Risk response": {"value": "Mitigate"}, "Next review": "2099-01-01"},
    )  # fmt: skip
    site.deliver()
    [review_key] = site.fake.issue(key).subtasks
    review = site.fake.issue(review_key)
    assert review.fields["summary"] == "Risk review"
    assert review.assignee is not None and review.assignee.name == "carol"

    site.fake.move(key, "Done", as_user="bob")
    site.deliver()
    assert site.fake.issue(key).status.name == "In Progress"
    [comment] = site.fake.comments(key)
    assert requirement_line(ReviewNotDone("Risk review", key=review_key)) in comment.body

    site.fake.move(review_key, "In Progress", as_user="carol")
    site.fake.move(review_key, "Done", as_user="carol")
    site.fake.move(key, "Done", as_user="bob")
    site.deliver()
    issue = site.fake.issue(key)
    assert issue.status.name == "Done"
    assert "now met" in site.fake.comments(key)[0].body
    assert "risk-register-incomplete" not in _labels(issue)
    assert len(issue.subtasks) == 1


def test_report_only_decides_the_same_and_writes_nothing(make_site):
    site = make_site(POLICIES / "itil-change.yaml", report_only=True)
    key = _normal_change(site)
    site.fake.move(key, "Done", as_user="bob")
    site.deliver()

    assert site.bot_writes() == []
    assert site.fake.issue(key).status.name == "Done"
    entries = {e.rule: e for e in site.audit.query(issue=key)}
    assert entries["change-control"].outcome == "fail"
    assert entries["change-control"].mode == "report-only"
    planned = {a["kind"]: a["result"] for a in entries["change-control"].actions}
    assert planned == {"comment": "planned", "label": "planned", "revert": "planned"}


def test_the_same_delivery_twice_acts_once(make_site):
    site = make_site(POLICIES / "itil-change.yaml")
    key = _normal_change(site)
    site.fake.send_webhooks_to(lambda wh: None, secret=SECRET)  # hold deliveries back
    site.fake.move(key, "Done", as_user="bob")
    moved = site.fake.webhooks[-1]
    for _ in range(2):
        response = site.client.post("/webhooks/jira", data=moved.raw, headers=moved.headers)
        assert response.status_code in (200, 202)
    assert response.get_json()["status"] == "duplicate"

    # and should the pipeline run it again (a crash after acting), the handler does nothing
    writes = len(site.bot_writes())
    delivery = site.runtime.deliveries.get(moved.identifier)
    assert delivery is not None
    event = JiraEvent.from_payload(delivery.payload())
    result = dict(site.runtime.dispatcher.dispatch(event, moved.identifier))["policy"]
    assert result.outcome in ("no-op", "reported")
    assert len(site.bot_writes()) == writes
    assert len([r for r in site.bot_writes() if r.path.endswith("/transitions")]) == 1


def test_hindsights_own_writes_cause_no_loop(make_site):
    site = make_site(POLICIES / "itil-change.yaml")
    key = _normal_change(site)
    site.fake.move(key, "Done", as_user="bob")
    delivered = site.fake.deliver_webhooks()  # raises if the writes kept causing writes

    bot = site.fake.service_account
    own = [w for w in delivered if _actor_id(w.body) == bot.account_id]
    assert len(own) >= 4, "the revert, two comments and the label come back as webhooks"
    statuses = {w.event: site.runtime.deliveries.get(w.identifier).status for w in own}
    # issue events by Hindsight are recorded and skipped; comment events nobody handles
    assert statuses == {"jira:issue_updated": "skipped", "comment_created": "ignored"}
    assert len([r for r in site.bot_writes() if r.path.endswith("/transitions")]) == 1
    assert len(site.fake.comments(key)) == 2


def test_data_center_deliveries_are_enforced_too(make_site):
    site = make_site(POLICIES / "itil-change.yaml", flavour="server")
    key = _normal_change(site)
    site.fake.move(key, "Done", as_user="bob")
    site.deliver()
    assert site.fake.issue(key).status.name == "In Progress"
    assert len(site.fake.comments(key)) == 2


def test_data_center_approval_is_read_from_a_changelog_without_field_ids(make_site):
    site = make_site(POLICIES / "itil-change.yaml", flavour="server")
    key = _complete_normal_change(site)
    site.fake.move(key, "Done", as_user="bob")
    site.deliver()
    assert site.fake.issue(key).status.name == "Done"
    assert site.bot_writes() == []


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_an_exemption_label_added_by_a_change_manager_waives_the_rule(make_site, flavour):
    site = make_site(POLICIES / "itil-change.yaml", flavour=flavour)
    key = _normal_change(site)
    site.fake.edit(key, {"labels": ["change-exempt"]}, as_user="alice")  # change-managers
    site.fake.move(key, "Done", as_user="bob")
    site.deliver()

    assert site.fake.issue(key).status.name == "In Progress"  # change-verified still applies
    entries = {e.rule: e for e in site.audit.query(issue=key)}
    exempt = entries["change-control"]
    assert exempt.outcome == "skipped"
    assert exempt.exemption is not None and exempt.exemption["by"] == "Alice"
    assert "member of 'change-managers'" in exempt.exemption["why"]
    assert entries["change-verified"].outcome == "fail"


def test_a_malformed_policy_is_refused_with_its_line(tmp_path):
    broken = (POLICIES / "itil-change.yaml").read_text().replace("mode: enforce", "mode: enforcing")
    path = tmp_path / "policy.yaml"
    path.write_text(broken)
    line = broken.splitlines().index("  mode: enforcing") + 1
    settings = load_settings(
        environ={}, overrides={"db": tmp_path / "h.db", "webhook_secret": [SECRET],
                               "policy_file": path},
    )  # fmt: skip
    with pytest.raises(PolicyError) as refused:
        build_runtime(Config(settings), installers=[install_policy])
    assert str(refused.value) == (
        f"{path}:{line}: defaults.mode: 'enforcing' is not allowed; must be one of: enforce, "
        "report-only"
    )
