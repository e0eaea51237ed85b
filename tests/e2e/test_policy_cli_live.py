"""`hindsight sweep`, `policy explain` and `policy backtest` against the fake Jira over HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from hindsight.cli import cli
from plugin.audit import SQLiteAuditLog
from plugin.policy.reasons import FieldEmpty
from plugin.policy.render import text as worded
from testkit.fakejira.fake import FakeJira
from testkit.fakejira.scenario import add_policy_fields
from tests.e2e.test_policy_fake_jira import POLICIES, WRITES, _labels


@pytest.fixture
def site(fake_jira: FakeJira, tmp_path: Path) -> tuple[FakeJira, CliRunner, Path]:
    add_policy_fields(fake_jira)
    fake_jira.add_project("RISK", "Risk register", lead="alice")
    bot = fake_jira.service_account
    env = {
        "HINDSIGHT_DB": str(tmp_path / "hindsight.db"),
        "HINDSIGHT_JIRA_URL": fake_jira.base_url,
        "HINDSIGHT_JIRA_EMAIL": bot.email,
        "HINDSIGHT_JIRA_API_TOKEN": bot.api_token or "",
    }
    return fake_jira, CliRunner(env=env), tmp_path / "hindsight.db"


def _bot_writes(fake: FakeJira) -> list:
    return [r for r in fake.requests if r.method in WRITES and r.user == fake.service_account.name]


def test_sweep_flags_overdue_risks_and_reverts_what_a_dropped_delivery_missed(site):
    fake, runner, db = site
    risk = fake.add_issue(
        "RISK", "Task", "Supplier insolvency", labels=["high-risk"], status="In Progress",
        fields={"Next review": "2020-01-01", "Risk response": {"value": "Transfer"}},
    )  # fmt: skip
    change = fake.add_issue(
        "CHG", "Change", "Rotate TLS certificates", status="In Progress",
        fields={"Change type": {"value": "Normal"}},
    )  # fmt: skip
    fake.move(change, "Done", as_user="bob")  # its webhook is never delivered
    itil = POLICIES / "itil-change.yaml"
    pmbok = POLICIES / "pmbok-risk-register.yaml"

    result = runner.invoke(cli, ["sweep", "--policy", str(pmbok), "--json"])
    assert result.exit_code == 0, result.output
    assert "risk-review-overdue" in _labels(fake.issue(risk))
    [comment] = fake.comments(risk)
    assert "was due on *2020-01-01*" in comment.body

    result = runner.invoke(cli, ["sweep", "--policy", str(itil)])
    assert result.exit_code == 0, result.output
    assert fake.issue(change).status.name == "In Progress"
    assert "change-control" in result.output

    rules = {(e.issue_key, e.rule, e.outcome) for e in SQLiteAuditLog(db).query()}
    assert (risk, "risk-review", "fail") in rules
    assert (change, "change-control", "fail") in rules

    writes = len(_bot_writes(fake))
    assert runner.invoke(cli, ["sweep", "--policy", str(pmbok)]).exit_code == 0
    assert runner.invoke(cli, ["sweep", "--policy", str(itil)]).exit_code == 0
    assert len(_bot_writes(fake)) == writes  # a second sweep has nothing new to do


def test_explain_judges_live_state_without_writing(site):
    fake, runner, _ = site
    key = fake.add_issue(
        "CHG", "Change", "Resize the cluster", status="In Progress",
        fields={"Change type": {"value": "Standard"}},
    )  # fmt: skip
    fake.move(key, "Done", as_user="bob")
    result = runner.invoke(
        cli, ["policy", "explain", key, "--policy", str(POLICIES / "itil-change.yaml"), "--json"]
    )
    assert result.exit_code == 0, result.output
    decisions = {d["rule"]: d for d in json.loads(result.output)}
    assert decisions["change-control"]["status"] == "fail"
    assert decisions["change-control"]["change_type"] == "standard"
    assert worded(FieldEmpty("Backout plan")) in decisions["change-control"]["reasons"]
    assert _bot_writes(fake) == []


def test_backtest_reports_what_would_have_been_flagged(site):
    fake, runner, _ = site
    key = fake.add_issue(
        "CHG", "Change", "Patch the kernel", status="In Progress",
        fields={"Change type": {"value": "Standard"}},
    )  # fmt: skip
    fake.move(key, "Done", as_user="bob")
    fake.move(key, "In Progress", as_user="bob")
    fake.edit(key, {"Backout plan": "reboot into the previous kernel"}, as_user="bob")
    fake.move(key, "Done", as_user="bob")

    result = runner.invoke(
        cli,
        ["policy", "backtest", str(POLICIES / "itil-change.yaml"), "--jql", "project = CHG",
         "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    flagged = [(f["issue"], f["rule"], f["status"]) for f in report["findings"]]
    assert (key, "change-control", "fail") in flagged
    assert report["counts"]["pass"] >= 1  # the second close, with a backout plan
    assert _bot_writes(fake) == []
