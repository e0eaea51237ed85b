"""The audit log on PostgreSQL (HINDSIGHT_DB=postgresql://...): the same rows and queries as
`plugin.audit`, append-only by trigger.

A trigger refuses UPDATE and DELETE row by row, and another refuses TRUNCATE, so the log stays
evidence whichever process or person holds a connection (short of its owner dropping the
triggers). Every filter has an index ending with `id`: PostgreSQL's indexes do not end with a
row id as SQLite's do, so `(rule, id)` is what hands a rule's rows newest first for keyset paging.
"""

from __future__ import annotations

from kb.postgres import PostgresConnection, PostgresMigrations
from plugin.audit import SQLAuditLog

MIGRATIONS = PostgresMigrations(
    "hindsight.audit",
    (
        (
            "m001_policy_audit",
            """
    CREATE TABLE policy_audit (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at TEXT NOT NULL,
        delivery TEXT NOT NULL,
        event TEXT NOT NULL,
        issue_key TEXT NOT NULL,
        actor TEXT,
        rule TEXT NOT NULL,
        kind TEXT NOT NULL,
        mode TEXT NOT NULL,
        outcome TEXT NOT NULL,
        change_type TEXT,
        summary TEXT NOT NULL,
        reasons TEXT NOT NULL,
        actions TEXT NOT NULL,
        exemption TEXT,
        project TEXT NOT NULL DEFAULT '',
        findings TEXT
    );
    CREATE INDEX policy_audit_issue ON policy_audit (issue_key, id);
    CREATE INDEX policy_audit_rule ON policy_audit (rule, id);
    CREATE INDEX policy_audit_project ON policy_audit (project, id);
    CREATE INDEX policy_audit_outcome ON policy_audit (outcome, id);
    CREATE INDEX policy_audit_day ON policy_audit (at, project, rule, outcome);
    CREATE FUNCTION policy_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'the audit log is append-only'
            USING ERRCODE = 'integrity_constraint_violation';
    END
    $$;
    CREATE TRIGGER policy_audit_no_change BEFORE UPDATE OR DELETE ON policy_audit
        FOR EACH ROW EXECUTE FUNCTION policy_audit_append_only();
    CREATE TRIGGER policy_audit_no_truncate BEFORE TRUNCATE ON policy_audit
        FOR EACH STATEMENT EXECUTE FUNCTION policy_audit_append_only();
    """,
        ),
        # PostgreSQL starts at the shape SQLite's m002 (project, filter indexes) and m003
        # (findings) reached: their numbers are taken, the steps are empty here.
        ("m002_project_and_filter_indexes", "SELECT 1"),
        ("m003_structured_findings", "SELECT 1"),
    ),
)


class PostgresAuditLog(SQLAuditLog):
    """The audit log in a PostgreSQL database every process shares."""

    def __init__(self, url: str) -> None:
        self._db = PostgresConnection(url)
        self.migrate()

    def migrate(self) -> int:
        """Apply the audit schema steps not applied yet; returns how many ran."""
        return len(self._db.migrate(MIGRATIONS))
