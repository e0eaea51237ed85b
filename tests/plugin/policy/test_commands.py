"""The policy CLI: validate, check a delivery offline, read the audit log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from hindsight.cli import cli
from plugin.audit import SQLiteAuditLog
from plugin.policy.decision import PolicyDecision, Trigger
from plugin.policy.reasons import FieldEmpty, RequirementsUnmet
from plugin.policy.render import text as worded
from testkit.memory_jira import ALICE, FIELDS
from tests.plugin.policy.conftest import POLICY_YAML
from tests.plugin.policy.test_handler import _payload


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    return {"HINDSIGHT_DB": str(tmp_path / "hindsight.db")}


def _policy(tmp_path: Path, text: str = POLICY_YAML) -> Path:
    path = tmp_path / "policy.yaml"
    mapped = "".join(f"  {name}: {field_id}\n" for name, field_id in FIELDS.items())
    path.write_text(text.replace("version: 1\n", f"version: 1\nfields:\n{mapped}", 1))
    return path


def test_validate_reports_valid_and_invalid_files(tmp_path):
    runner = CliRunner()
    ok = runner.invoke(cli, ["policy", "validate", str(_policy(tmp_path))])
    assert ok.exit_code == 0
    assert "valid, 2 rule(s): change-control, risk-review" in ok.output

    broken = _policy(tmp_path, POLICY_YAML.replace("kind: risk-review", "kind: risky"))
    bad = runner.invoke(cli, ["policy", "validate", str(broken)])
    assert bad.exit_code == 1
    assert "unknown kind 'risky'; allowed: change-control, risk-review" in bad.output
    assert f"{broken}:" in bad.output

    as_json = runner.invoke(cli, ["policy", "validate", "--json", str(broken)])
    assert as_json.exit_code == 1
    assert json.loads(as_json.output)["errors"][0]["path"] == "rules[1]"


def test_check_judges_a_delivery_offline(tmp_path):
    event = tmp_path / "delivery.json"
    event.write_text(json.dumps(_payload()))
    result = CliRunner().invoke(
        cli, ["policy", "check", str(_policy(tmp_path)), "--event", str(event), "--json"]
    )
    assert result.exit_code == 0, result.output
    decisions = {d["rule"]: d for d in json.loads(result.output)}
    change = decisions["change-control"]
    assert (change["status"], change["mode"], change["change_type"]) == (
        "fail", "report-only", "normal",
    )  # fmt: skip
    assert worded(FieldEmpty("Impact on scope")) in change["reasons"]
    assert {a["result"] for a in change["actions"]} <= {"planned"} | {
        "planned (the way back is looked up in Jira when it is configured)"
    }

    text = CliRunner().invoke(
        cli, ["policy", "check", str(_policy(tmp_path)), "--event", str(event)]
    )
    assert "CHG-1 change-control (report-only) [normal change]: FAIL" in text.output


def test_check_refuses_a_file_that_is_not_a_delivery(tmp_path):
    event = tmp_path / "delivery.json"
    event.write_text('{"hello": 1}')
    result = CliRunner().invoke(
        cli, ["policy", "check", str(_policy(tmp_path)), "--event", str(event)]
    )
    assert result.exit_code == 1
    assert "not a Jira webhook delivery" in result.output


def test_audit_filters_and_formats(tmp_path, cli_env):
    log = SQLiteAuditLog(cli_env["HINDSIGHT_DB"])
    for key in ("CHG-1", "CHG-2"):
        decision = PolicyDecision(
            "change-control",
            "change-control",
            key,
            "enforce",
            "fail",
            RequirementsUnmet("Done", 1),
            (FieldEmpty("Impact"),),
        )
        log.record([decision], Trigger("jira:issue_updated", f"d-{key}", ALICE))
    runner = CliRunner(env=cli_env)

    text = runner.invoke(cli, ["audit", "--issue", "CHG-2"])
    assert text.exit_code == 0, text.output
    assert "CHG-2 change-control (enforce) FAIL" in text.output
    assert "CHG-1" not in text.output

    lines = runner.invoke(cli, ["audit", "--json"]).output.splitlines()
    assert [json.loads(line)["delivery"] for line in lines] == ["d-CHG-1", "d-CHG-2"]

    csv_out = runner.invoke(cli, ["audit", "--csv", "--rule", "change-control"]).output
    assert csv_out.splitlines()[0].startswith("id,at,delivery,event,issue_key")
    assert len(csv_out.splitlines()) == 3

    bad = runner.invoke(cli, ["audit", "--since", "yesterday"])
    assert bad.exit_code == 2
    assert "relative age" in bad.output


def test_live_commands_say_what_to_configure(tmp_path, cli_env):
    result = CliRunner(env=cli_env).invoke(
        cli, ["policy", "explain", "CHG-1", "--policy", str(_policy(tmp_path))]
    )
    assert result.exit_code == 1
    assert "set HINDSIGHT_JIRA_URL" in result.output
