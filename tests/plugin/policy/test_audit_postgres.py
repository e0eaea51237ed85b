"""The audit log on PostgreSQL: what differs from SQLite (truncation refused, index plans).

Everything both engines share runs on both in test_audit.py (`store_location`).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from plugin.audit import COLUMNS, AuditFilter, _where, open_audit_log
from plugin.audit_postgres import PostgresAuditLog
from plugin.policy.decision import PolicyDecision, Trigger
from plugin.policy.reasons import FieldEmpty, RequirementsUnmet

pytestmark = pytest.mark.postgres
psycopg = pytest.importorskip("psycopg", reason="pip install 'hindsight[postgres]'")


@pytest.fixture
def audit(postgres_url: str) -> Iterator[PostgresAuditLog]:
    log = PostgresAuditLog(postgres_url)
    log.record(
        [
            PolicyDecision(
                rule="r",
                kind="change-control",
                issue_key=f"PAY-{n}",
                mode="enforce",
                status="fail",
                headline=RequirementsUnmet("Done", 1),
                reasons=(FieldEmpty("Impact"),),
            )
            for n in range(3)
        ],
        Trigger("sweep"),
    )
    yield log
    log.close()


def test_not_even_truncate_empties_the_log(audit: PostgresAuditLog, postgres_url: str) -> None:
    with (
        psycopg.connect(postgres_url) as other,
        pytest.raises(psycopg.IntegrityError, match="append-only"),
    ):
        other.execute("TRUNCATE policy_audit")
    assert len(audit.query()) == 3


@pytest.mark.parametrize(
    ("where", "index"),
    [
        (AuditFilter(project="PAY"), "policy_audit_project"),
        (AuditFilter(outcome="fail"), "policy_audit_outcome"),
        (AuditFilter(rule="risk-review"), "policy_audit_rule"),
        (AuditFilter(issue="PAY-1"), "policy_audit_issue"),
    ],
)
def test_every_filter_pages_through_its_index_without_a_sort(
    audit: PostgresAuditLog, where: AuditFilter, index: str
) -> None:
    clause, params = _where(where, before=10)
    with audit._db.read() as conn:
        conn.execute("SET LOCAL enable_seqscan = off")  # three rows: force the indexed plan
        plan = " | ".join(
            row[0]
            for row in conn.execute(
                f"EXPLAIN SELECT {', '.join(COLUMNS)} FROM policy_audit {clause}"
                " ORDER BY id DESC LIMIT 5",
                params,
            )
        )
    assert index in plan
    assert "Sort" not in plan


def test_a_postgres_url_given_as_text_opens_postgres_not_a_sqlite_file(
    postgres_url: str, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # where a mistaken SQLite file would appear

    log = open_audit_log(str(postgres_url))

    assert isinstance(log, PostgresAuditLog)
    assert list(tmp_path.iterdir()) == []
    log.close()
