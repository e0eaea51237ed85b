"""`hindsight doctor` against the fake Jira, both flavours: a healthy site passes every check,
and each failure is found with its fix."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from hindsight.cli import cli
from plugin.doctor import Doctor, DoctorReport
from plugin.jira.adapter import connect
from testkit.fakejira import FakeJira
from testkit.fakejira.fixtures import adapter_for
from tests.plugin.doctor_sites import (
    POLICY,
    PUBLIC_URL,
    broken,
    doctor_for,
    healthy,
    policy_for,
)


@pytest.fixture(params=["cloud", "server"])
def fake(request, fake_jira_factory) -> FakeJira:
    return fake_jira_factory(request.param, populate=False)


def _failed(report: DoctorReport) -> list[tuple[str, str | None]]:
    return [(c.name, c.project) for c in report.checks if c.status == "fail"]


def _check(report: DoctorReport, name: str, project: str | None = None):
    return next(c for c in report.checks if c.name == name and c.project == project)


def test_a_healthy_site_passes_every_check(fake) -> None:
    report = doctor_for(fake, healthy(fake))

    assert not report.failed, [c for c in report.checks if c.status != "pass"]
    assert {c.status for c in report.checks} == {"pass"}
    names = {c.name for c in report.checks}
    assert {"credentials", "service account", "group membership", "public URL"} <= names
    assert {f"permission {k}" for k in ("BROWSE_PROJECTS", "TRANSITION_ISSUES", "ADD_COMMENTS",
            "EDIT_OWN_COMMENTS", "EDIT_ISSUES", "CREATE_ISSUES")} <= names  # fmt: skip
    assert {"field Backout plan", "field Risk score", "field Next review"} <= names
    flavour = "Jira Cloud" if fake.flavour == "cloud" else "Jira Data Center"
    assert flavour in _check(report, "credentials").detail
    assert "way back (change-control)" in names


def test_a_missing_permission_a_missing_field_and_no_way_back_each_fail(fake) -> None:
    report = doctor_for(fake, broken(fake))

    failed = _failed(report)
    assert ("permission CREATE_ISSUES", "CHG") in failed
    assert ("field Backout plan", None) in failed
    assert ("way back (change-control)", "CHG") in failed
    create = _check(report, "permission CREATE_ISSUES", "CHG")
    assert "grant CREATE_ISSUES in CHG's permission scheme" in create.fix
    assert "review sub-tasks" in create.detail
    way_back = next(c for c in report.checks if c.status == "fail" and "Approve" in c.detail)
    assert "no transition from Deploying back to Awaiting approval" in way_back.detail
    assert "revert: false" in way_back.fix
    assert all(c.fix for c in report.checks if c.status == "fail")
    assert _check(report, "permission EDIT_ISSUES", "CHG").status == "pass"


def test_guard_revert_false_needs_no_way_back_and_no_transition_permission(fake) -> None:
    broken(fake)
    policy = policy_for("CHG")
    rules = tuple(
        r.model_copy(update={"guard": r.guard.model_copy(update={"revert": False})})
        for r in policy.rules
    )
    report = doctor_for(fake, policy.model_copy(update={"rules": rules}))

    assert not any(c.name.startswith("way back") and c.status == "fail" for c in report.checks)
    assert "permission TRANSITION_ISSUES" not in {c.name for c in report.checks}
    assert "revert: false" in _check(report, "way back (change-control)", "CHG").detail


def test_without_transition_issues_the_ways_back_are_not_claimed(fake) -> None:
    policy = healthy(fake)
    fake.permissions.revoke(fake.service_account.name, "TRANSITION_ISSUES", project="SAFE")

    report = doctor_for(fake, policy)

    assert _check(report, "permission TRANSITION_ISSUES", "SAFE").status == "fail"
    ways_back = [c for c in report.checks if c.name.startswith("way back")]
    assert ways_back and {c.status for c in ways_back} == {"skip"}
    assert "Jira lists no transitions" in ways_back[0].detail


def test_a_field_of_the_wrong_type_fails(fake) -> None:
    policy = healthy(fake)
    fake.add_field("Next review", "customfield_10051", {"type": "string"})  # was a date

    report = doctor_for(fake, policy)

    check = _check(report, "field Next review")
    assert check.status == "fail" and "not a date field" in check.detail
    assert "a date or date-time field" in check.fix


def test_unreadable_groups_fail_when_the_policy_names_a_group(fake) -> None:
    policy = healthy(fake)
    if fake.flavour == "cloud":  # GET /user/groups needs Browse users and groups
        fake.permissions.revoke(fake.service_account.name, "USER_PICKER")
    else:  # Data Center documents no such condition: its lookup is what can fail
        fake.forbid("GET", "/rest/api/2/user")

    report = doctor_for(fake, policy)

    check = _check(report, "group membership")
    assert check.status == "fail"
    assert "Browse users and groups" in check.fix
    expected = "change-managers" if fake.flavour == "cloud" else "HTTP 403"
    assert expected in check.detail


def test_a_project_the_account_cannot_browse_fails_with_its_fix(fake) -> None:
    policy = healthy(fake)
    fake.permissions.revoke(fake.service_account.name, "BROWSE_PROJECTS", project="SAFE")

    report = doctor_for(fake, policy)

    check = _check(report, "permission BROWSE_PROJECTS", "SAFE")
    assert check.status == "fail" and "cannot browse it" in check.detail


def test_rejected_credentials_stop_the_jira_checks(fake) -> None:
    policy = healthy(fake)
    bot = fake.service_account
    jira = (
        connect(fake.base_url, email=bot.email, api_token="revoked", sleep=lambda s: None)
        if fake.flavour == "cloud"
        else connect(fake.base_url, pat="revoked", sleep=lambda s: None)
    )

    report = Doctor(jira, policy, jira_url=fake.base_url, public_url=PUBLIC_URL).run()

    assert [c.name for c in report.checks] == ["credentials", "public URL"]
    credentials = report.checks[0]
    assert credentials.status == "fail" and "HTTP 401" in credentials.detail
    assert "API token" in credentials.fix and "personal access token" in credentials.fix


def test_the_public_url_must_be_set_and_should_be_https(fake) -> None:
    policy = healthy(fake)
    unset = Doctor(adapter_for(fake), policy, jira_url=fake.base_url).run()
    plain = Doctor(
        adapter_for(fake), policy, jira_url=fake.base_url, public_url="http://h.example"
    ).run()
    assert _check(unset, "public URL").status == "fail"
    assert _check(plain, "public URL").status == "warn"


def test_another_configured_service_account_fails(fake) -> None:
    policy = healthy(fake)
    report = Doctor(
        adapter_for(fake), policy, jira_url=fake.base_url, public_url=PUBLIC_URL,
        service_account="someone-else",
    ).run()  # fmt: skip
    check = _check(report, "service account")
    assert check.status == "fail" and "could loop" in check.detail


@pytest.mark.parametrize("build, code", [(healthy, 0), (broken, 1)])
def test_the_command_prints_the_checklist_and_exits_1_on_a_failure(
    fake, build, code, tmp_path
) -> None:
    build(fake)
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY.format(project="SAFE" if code == 0 else "CHG"))
    bot = fake.service_account
    env = {"HINDSIGHT_JIRA_URL": fake.base_url, "HINDSIGHT_POLICY_FILE": str(policy),
           "HINDSIGHT_PUBLIC_URL": PUBLIC_URL, "HINDSIGHT_DB": str(tmp_path / "h.db")}  # fmt: skip
    if fake.flavour == "cloud":
        env |= {"HINDSIGHT_JIRA_EMAIL": bot.email, "HINDSIGHT_JIRA_API_TOKEN": bot.api_token}
    else:
        env |= {"HINDSIGHT_JIRA_PAT": bot.pat}

    text = CliRunner().invoke(cli, ["doctor"], env=env)
    as_json = CliRunner().invoke(cli, ["doctor", "--json"], env=env)

    assert text.exit_code == code, text.output
    assert text.output.startswith(f"Hindsight doctor: {fake.base_url}")
    assert ("FAIL  permission CREATE_ISSUES [CHG]" in text.output) == (code == 1)
    assert as_json.exit_code == code
    report = json.loads(as_json.output)
    assert report["ok"] is (code == 0)
    assert {"name", "status", "detail", "fix", "project"} <= set(report["checks"][0])
