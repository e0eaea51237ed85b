"""The audit log: append-only rows per decision, filters, JSON and CSV."""

from __future__ import annotations

import csv
import io
import sqlite3
from datetime import UTC, datetime

import pytest

from plugin.audit import AuditLog, BadAuditQuery, parse_since, to_csv
from plugin.policy.decision import ActionRecord, ExemptionApplied, PolicyDecision, Trigger
from tests.memory_jira import ALICE


def _decision(issue: str = "CHG-1", rule: str = "change-control", **extra) -> PolicyDecision:
    base = dict(
        rule=rule,
        kind="change-control",
        issue_key=issue,
        mode="enforce",
        status="fail",
        summary="moved to Done without meeting 1 requirement(s)",
        reasons=("missing: 'Impact' is empty (fill in 'Impact')",),
        actions=(ActionRecord("revert", "move CHG-1 back", "done", {"transition": "41"}),),
    )
    base.update(extra)
    return PolicyDecision(**base)


@pytest.fixture
def audit(tmp_path) -> AuditLog:
    return AuditLog(tmp_path / "hindsight.db")


def test_a_decision_is_recorded_with_everything_an_auditor_asks_for(audit):
    trigger = Trigger("jira:issue_updated", "delivery-1", ALICE)
    exemption = ExemptionApplied("change-exempt", "Alice", "approved out of band")
    at = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert audit.record([_decision(exemption=exemption)], trigger, at=at) == 1

    [entry] = audit.query()
    assert entry.at == "2026-03-02T09:00:00.000+00:00"
    assert (entry.delivery, entry.event, entry.issue_key, entry.actor) == (
        "delivery-1",
        "jira:issue_updated",
        "CHG-1",
        "Alice",
    )
    assert (entry.rule, entry.mode, entry.outcome) == ("change-control", "enforce", "fail")
    assert entry.reasons == ["missing: 'Impact' is empty (fill in 'Impact')"]
    assert entry.actions == [
        {"kind": "revert", "detail": "move CHG-1 back", "result": "done", "transition": "41"}
    ]
    assert entry.exemption == {
        "label": "change-exempt",
        "by": "Alice",
        "why": "approved out of band",
    }


def test_the_log_is_append_only(audit, tmp_path):
    audit.record([_decision()], Trigger("sweep"))
    conn = sqlite3.connect(tmp_path / "hindsight.db")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE policy_audit SET outcome = 'pass'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM policy_audit")


def test_filters_by_issue_rule_and_time(audit):
    old = datetime(2026, 1, 1, tzinfo=UTC)
    new = datetime(2026, 3, 1, tzinfo=UTC)
    audit.record([_decision("CHG-1")], Trigger("x"), at=old)
    audit.record([_decision("CHG-2", rule="risk-review")], Trigger("x"), at=new)
    assert [e.issue_key for e in audit.query(issue="chg-2")] == ["CHG-2"]
    assert [e.rule for e in audit.query(rule="change-control")] == ["change-control"]
    assert [e.issue_key for e in audit.query(since="2026-02-01")] == ["CHG-2"]
    assert [e.issue_key for e in audit.query(limit=1)] == ["CHG-2"]


def test_migrations_run_once(tmp_path):
    AuditLog(tmp_path / "db.sqlite").close()
    again = AuditLog(tmp_path / "db.sqlite")
    assert again.migrate() == 0


def test_since_accepts_dates_and_relative_ages_and_explains_bad_input():
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    assert parse_since("7d", now=now) == datetime(2026, 2, 23, 12, 0, tzinfo=UTC)
    assert parse_since("30m", now=now) == datetime(2026, 3, 2, 11, 30, tzinfo=UTC)
    assert parse_since("2026-03-01") == datetime(2026, 3, 1, tzinfo=UTC)
    with pytest.raises(BadAuditQuery, match="relative age"):
        parse_since("last week")


def test_csv_has_a_header_and_json_cells(audit):
    audit.record([_decision()], Trigger("x", "d-9", ALICE))
    rows = list(csv.DictReader(io.StringIO(to_csv(audit.query()))))
    assert rows[0]["delivery"] == "d-9"
    assert rows[0]["reasons"].startswith('["missing:')
