"""The audit log: append-only rows per decision, filters, JSON and CSV."""

from __future__ import annotations

import csv
import io
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlite_utils.migrations import Migrations

from hindsight.wiring import Config
from plugin.audit import (
    AuditFilter,
    AuditLog,
    BadAuditQuery,
    SQLiteAuditLog,
    open_audit_log,
    parse_since,
    to_csv,
)
from plugin.policy.decision import ActionRecord, PolicyDecision, Trigger
from plugin.policy.reasons import ExemptionApplied, FieldEmpty, RequirementsUnmet
from testkit.memory_jira import ALICE


def _decision(issue: str = "CHG-1", rule: str = "change-control", **extra) -> PolicyDecision:
    base = dict(
        rule=rule,
        kind="change-control",
        issue_key=issue,
        mode="enforce",
        status="fail",
        headline=RequirementsUnmet("Done", 1),
        reasons=(FieldEmpty("Impact"),),
        actions=(ActionRecord("revert", "move CHG-1 back", "done", {"transition": "41"}),),
    )
    base.update(extra)
    return PolicyDecision(**base)


@pytest.fixture
def audit(store_config: Config) -> Iterator[AuditLog]:
    """The audit log on each engine, where the configuration puts it."""
    log = open_audit_log(store_config.policy.audit_db)
    yield log
    log.close()


@pytest.fixture
def sqlite_audit(tmp_path) -> SQLiteAuditLog:
    return SQLiteAuditLog(tmp_path / "hindsight.db")


def _integrity_errors() -> tuple[type[Exception], ...]:
    """What each engine raises when a trigger refuses a change."""
    try:
        import psycopg
    except ImportError:
        return (sqlite3.IntegrityError,)
    return (sqlite3.IntegrityError, psycopg.IntegrityError)


def test_a_decision_is_recorded_with_everything_an_auditor_asks_for(audit):
    """The row keeps the decision in words (as `plugin.policy.render` puts them), for people."""
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


def test_a_decision_keeps_its_findings_as_data_beside_the_words(audit):
    audit.record([_decision()], Trigger("sweep"))
    [entry] = audit.query()
    assert entry.findings == {
        "headline": {"code": "requirements-unmet", "target": "Done", "count": 1},
        "reasons": [{"code": "field-empty", "field": "Impact"}],
    }
    assert entry.to_dict()["findings"] == entry.findings


def test_a_row_written_before_findings_were_kept_still_reads_and_shows(audit):
    from webhooks.web.audit import PolicyAuditSource

    with audit._db.write() as conn:
        conn.execute(
            "INSERT INTO policy_audit (project, at, delivery, event, issue_key, rule, kind, mode,"
            " outcome, summary, reasons, actions) VALUES ('PAY', '2026-03-01T09:00:00.000+00:00',"
            " 'd', 'e', 'PAY-9', 'r', 'k', 'enforce', 'fail', 'moved to Done without meeting 1"
            " requirement(s)', '[\"missing: ''Impact'' is empty (fill in ''Impact'')\"]', '[]')"
        )
    [old] = audit.query()
    assert old.findings is None
    assert old.reasons == ["missing: 'Impact' is empty (fill in 'Impact')"]
    [row] = PolicyAuditSource(audit).entries().rows
    assert row.reasons == ("missing: 'Impact' is empty (fill in 'Impact')",)


@pytest.mark.parametrize(
    "statement", ["UPDATE policy_audit SET outcome = 'pass'", "DELETE FROM policy_audit"]
)
def test_the_log_is_append_only(audit, statement):
    audit.record([_decision()], Trigger("sweep"))
    with pytest.raises(_integrity_errors(), match="append-only"), audit._db.write() as conn:
        conn.execute(statement)
    [entry] = audit.query()
    assert entry.outcome == "fail"


def test_filters_by_issue_rule_and_time(audit):
    old = datetime(2026, 1, 1, tzinfo=UTC)
    new = datetime(2026, 3, 1, tzinfo=UTC)
    audit.record([_decision("CHG-1")], Trigger("x"), at=old)
    audit.record([_decision("CHG-2", rule="risk-review")], Trigger("x"), at=new)
    assert [e.issue_key for e in audit.query(issue="chg-2")] == ["CHG-2"]
    assert [e.rule for e in audit.query(rule="change-control")] == ["change-control"]
    assert [e.issue_key for e in audit.query(since="2026-02-01")] == ["CHG-2"]
    assert [e.issue_key for e in audit.query(limit=1)] == ["CHG-2"]


def test_a_since_with_an_offset_counts_from_that_moment(audit):
    """Entries are stored in UTC and compared as text: `since` is turned to UTC first."""
    audit.record([_decision("CHG-1")], Trigger("x"), at=datetime(2026, 3, 1, 9, 30, tzinfo=UTC))
    audit.record([_decision("CHG-2")], Trigger("x"), at=datetime(2026, 3, 1, 10, 30, tzinfo=UTC))

    since = "2026-03-01T12:00+02:00"  # 10:00 UTC
    assert [e.issue_key for e in audit.query(since=since)] == ["CHG-2"]
    assert audit.count(AuditFilter(since=since)) == 1
    assert parse_since(since).utcoffset() == timedelta(0)


def test_migrations_run_once(store_config: Config):
    open_audit_log(store_config.policy.audit_db).close()
    again = open_audit_log(store_config.policy.audit_db)
    assert again.migrate() == 0  # type: ignore[attr-defined]
    again.close()


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


def _fill(audit: SQLiteAuditLog) -> None:
    """Six decisions over two days, two projects, two rules and three outcomes."""
    day1, day2 = datetime(2026, 3, 1, 9, tzinfo=UTC), datetime(2026, 3, 2, 9, tzinfo=UTC)
    audit.record([_decision("PAY-1"), _decision("PAY-2", status="pass")], Trigger("x"), at=day1)
    audit.record([_decision("OPS-1", rule="risk-review")], Trigger("x"), at=day1)
    audit.record([_decision("PAY-3"), _decision("OPS-2", status="error")], Trigger("x"), at=day2)
    audit.record([_decision("OPS-3", rule="risk-review")], Trigger("x"), at=day2)


def _keys(page) -> list[str]:
    return [e.issue_key for e in page.entries]


def test_a_page_filters_by_project_outcome_rule_and_time_newest_first(audit):
    _fill(audit)

    assert _keys(audit.page(AuditFilter(project="pay"), limit=10)) == ["PAY-3", "PAY-2", "PAY-1"]
    assert _keys(audit.page(AuditFilter(outcome="fail", project="PAY"), limit=10)) == [
        "PAY-3",
        "PAY-1",
    ]
    assert _keys(audit.page(AuditFilter(rule="risk-review"), limit=10)) == ["OPS-3", "OPS-1"]
    assert _keys(audit.page(AuditFilter(since="2026-03-02", project="OPS"), limit=10)) == [
        "OPS-3",
        "OPS-2",
    ]
    assert _keys(audit.page(AuditFilter(issue="ops-2"), limit=10)) == ["OPS-2"]


def test_pages_follow_each_other_by_keyset_until_the_last(audit):
    _fill(audit)
    seen, before = [], None
    for _ in range(10):
        page = audit.page(AuditFilter(), limit=4, before=before)
        seen += _keys(page)
        if page.older is None:
            break
        before = page.older

    assert seen == ["OPS-3", "OPS-2", "PAY-3", "OPS-1", "PAY-2", "PAY-1"]
    assert audit.page(AuditFilter(), limit=6).older is None


def test_outcome_counts_are_grouped_by_sql_per_day_project_rule_and_outcome(audit):
    _fill(audit)

    counts = audit.outcome_counts(since="2026-03-01")

    assert [(c.day, c.project, c.rule, c.outcome, c.count) for c in counts] == [
        ("2026-03-01", "OPS", "risk-review", "fail", 1),
        ("2026-03-01", "PAY", "change-control", "fail", 1),
        ("2026-03-01", "PAY", "change-control", "pass", 1),
        ("2026-03-02", "OPS", "change-control", "error", 1),
        ("2026-03-02", "OPS", "risk-review", "fail", 1),
        ("2026-03-02", "PAY", "change-control", "fail", 1),
    ]
    assert [c.day for c in audit.outcome_counts(since="2026-03-02")] == ["2026-03-02"] * 3


@pytest.mark.parametrize(
    ("where", "index"),
    [
        (AuditFilter(project="PAY"), "policy_audit_project"),
        (AuditFilter(outcome="fail"), "policy_audit_outcome"),
        (AuditFilter(rule="risk-review"), "policy_audit_rule"),
        (AuditFilter(issue="PAY-1"), "policy_audit_issue"),
    ],
)
def test_every_filter_reads_through_an_index_in_id_order(sqlite_audit, where, index):
    from plugin.audit import COLUMNS, _where

    clause, params = _where(where, before=10)
    plan = " | ".join(
        row[3]
        for row in sqlite_audit._db.conn.execute(
            f"EXPLAIN QUERY PLAN SELECT {', '.join(COLUMNS)} FROM policy_audit {clause}"
            " ORDER BY id DESC LIMIT 5",
            params,
        )
    )
    assert f"USING INDEX {index}" in plan
    if where.issue is None:  # one issue's few rows may be sorted; every other filter is not
        assert "TEMP B-TREE" not in plan


def test_the_dashboard_counts_read_only_the_covering_index(sqlite_audit):
    plan = " | ".join(
        row[3]
        for row in sqlite_audit._db.conn.execute(
            "EXPLAIN QUERY PLAN SELECT substr(at, 1, 10) AS day, project, rule, outcome, count(*)"
            " FROM policy_audit WHERE at >= ? GROUP BY day, project, rule, outcome",
            ("2026-03-01",),
        )
    )
    assert "USING COVERING INDEX policy_audit_day" in plan


def test_the_project_column_is_filled_for_rows_written_before_it_existed(tmp_path):
    from kb.database import connect, migrate
    from plugin.audit import MIGRATIONS, _m001

    first_step = Migrations(MIGRATIONS.name)  # the schema as the first release made it
    first_step(name="m001_policy_audit")(_m001)
    conn = connect(tmp_path / "old.db")
    migrate(conn, first_step)
    conn.execute(
        "INSERT INTO policy_audit (at, delivery, event, issue_key, rule, kind, mode, outcome,"
        " summary, reasons, actions) VALUES ('2026-03-01T09:00:00.000+00:00', 'd', 'e',"
        " 'PAY-9', 'r', 'k', 'enforce', 'fail', 's', '[]', '[]')"
    )
    conn.close()

    upgraded = SQLiteAuditLog(tmp_path / "old.db")

    assert _keys(upgraded.page(AuditFilter(project="PAY"), limit=5)) == ["PAY-9"]
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        upgraded._db.conn.execute("UPDATE policy_audit SET outcome = 'pass'")


def test_a_decision_quoting_jiras_text_with_a_nul_is_recorded(audit):
    """A status name holding a NUL reaches the summary: PostgreSQL refused the row, so the
    delivery retried until dead and the decision was never audited. Recorded with U+FFFD."""
    decision = _decision(
        headline=RequirementsUnmet("Do\x00ne", 1),
        reasons=(FieldEmpty("Imp\x00act"),),
        change_type="nor\x00mal",
    )

    assert audit.record([decision], Trigger("jira:issue_updated", "d-1", ALICE)) == 1

    [entry] = audit.query()
    assert "Do\ufffdne" in entry.summary and entry.change_type == "nor\ufffdmal"
    assert entry.reasons == ["missing: 'Imp\ufffdact' is empty (fill in 'Imp\ufffdact')"]
