"""The audit log: every policy decision and action, append-only, in the shared SQLite database.

One row per rule decision: when, which delivery/event, issue, actor, rule, mode, outcome, reasons
(in words, as `plugin.policy.render` puts them, and as data in `findings`), actions with their
results, and any exemption (who, why). Triggers refuse UPDATE and DELETE, so
the log is evidence, not a scratchpad. Its schema is the `hindsight.audit` migration set, and it
opens, locks and migrates through `kb.database.StoreConnection` like every store (docs/storage.md).
Callers depend on the `AuditLog` Protocol; `SQLiteAuditLog` is the implementation. Every filter is
a WHERE clause on an indexed column and every page a bounded, keyset-paged query.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from kb.database import StoreConnection, run_script
from kb.postgres import PostgresConnection, PostgresURL
from kb.text import without_nul
from plugin.export import csv_text
from plugin.jira.port import User
from plugin.policy.decision import PolicyDecision, Trigger, exemption_dict

MIGRATIONS = Migrations("hindsight.audit")


@MIGRATIONS(name="m001_policy_audit")
def _m001(db: Database) -> None:
    """The append-only decision log."""
    run_script(
        db,
        """
    CREATE TABLE policy_audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
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
        exemption TEXT
    );
    CREATE INDEX policy_audit_issue ON policy_audit (issue_key, at);
    CREATE INDEX policy_audit_rule ON policy_audit (rule, at);
    CREATE INDEX policy_audit_at ON policy_audit (at);
    CREATE TRIGGER policy_audit_no_update BEFORE UPDATE ON policy_audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER policy_audit_no_delete BEFORE DELETE ON policy_audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    """,
    )


@MIGRATIONS(name="m002_project_and_filter_indexes")
def _m002(db: Database) -> None:
    """Every filter of the audit page in SQL: a project column, one index per filter column.

    In SQLite an index ends with the rowid (here `id`), so `(rule)` hands rows newest first by id
    for keyset paging, where `(rule, at)` needed a sort. `(at, project, rule, outcome)` covers
    the dashboard's counts per day. The no-update trigger is lifted only to fill the new column.
    """
    db.execute("DROP TRIGGER policy_audit_no_update")
    db.execute("ALTER TABLE policy_audit ADD COLUMN project TEXT NOT NULL DEFAULT ''")
    rows = db.execute("SELECT id, issue_key FROM policy_audit").fetchall()
    db.conn.executemany(
        "UPDATE policy_audit SET project = ? WHERE id = ?",
        [(project_of(issue_key), row_id) for row_id, issue_key in rows],
    )
    run_script(
        db,
        """
    CREATE TRIGGER policy_audit_no_update BEFORE UPDATE ON policy_audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    DROP INDEX policy_audit_rule;
    DROP INDEX policy_audit_at;
    CREATE INDEX policy_audit_rule ON policy_audit (rule);
    CREATE INDEX policy_audit_project ON policy_audit (project);
    CREATE INDEX policy_audit_outcome ON policy_audit (outcome);
    CREATE INDEX policy_audit_day ON policy_audit (at, project, rule, outcome);
    """,
    )


@MIGRATIONS(name="m003_structured_findings")
def _m003(db: Database) -> None:
    """The decision's findings as data (codes, fields, expected and actual values) beside its
    words; rows written before have none (NULL) and keep displaying from their text."""
    db.execute("ALTER TABLE policy_audit ADD COLUMN findings TEXT")


def project_of(issue_key: str) -> str:
    """The project key of an issue key (`PAY-7` -> `PAY`); '' when it has none."""
    return issue_key.rsplit("-", 1)[0].upper() if "-" in issue_key else ""


COLUMNS = (
    "id", "at", "delivery", "event", "issue_key", "actor", "rule", "kind", "mode", "outcome",
    "change_type", "summary", "reasons", "actions", "exemption", "findings",
)  # fmt: skip


class BadAuditQuery(ValueError):
    """A filter of `hindsight audit` is malformed; the message says the expected form."""


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: str  # ISO 8601, UTC
    delivery: str
    event: str
    issue_key: str
    actor: str | None
    rule: str
    kind: str
    mode: str
    outcome: str
    change_type: str | None
    summary: str
    reasons: list[str]
    actions: list[dict[str, Any]]
    exemption: dict[str, str] | None
    # {"headline": {...}, "reasons": [...]}, each finding with its code (plugin.policy.reasons);
    # None on rows written before findings were kept
    findings: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in COLUMNS}


@dataclass(frozen=True)
class AuditFilter:
    """Which entries to read; every field left None matches everything."""

    issue: str | None = None
    rule: str | None = None
    project: str | None = None
    outcome: str | None = None
    since: str | None = None  # see `parse_since`


@dataclass(frozen=True)
class AuditPage:
    """One page of entries, newest first; `older` is the `before` cursor of the next page."""

    entries: list[AuditEntry]
    older: int | None


@dataclass(frozen=True)
class OutcomeCount:
    """How many decisions of one outcome a rule made on one project on one day (UTC)."""

    day: str
    project: str
    rule: str
    outcome: str
    count: int


class AuditLog(Protocol):
    """What callers need of the audit log, whatever database holds it."""

    def record(
        self, decisions: Iterable[PolicyDecision], trigger: Trigger, *, at: datetime | None = None
    ) -> int: ...

    def query(
        self,
        *,
        issue: str | None = None,
        rule: str | None = None,
        since: str | None = None,
        limit: int | None = None,
    ) -> list[AuditEntry]: ...

    def page(self, where: AuditFilter, *, limit: int, before: int | None = None) -> AuditPage: ...

    def count(self, where: AuditFilter) -> int: ...

    def outcome_counts(self, *, since: str) -> list[OutcomeCount]: ...

    def close(self) -> None: ...


class SQLAuditLog:
    """The audit log's reads and writes, in SQL both engines run (`?` placeholders).

    Subclasses open the connection (a `StoreConnection` or a `kb.postgres.PostgresConnection`)
    and own the schema: `SQLiteAuditLog` here, `PostgresAuditLog` in plugin.audit_postgres.
    """

    _db: StoreConnection | PostgresConnection

    def record(
        self,
        decisions: Iterable[PolicyDecision],
        trigger: Trigger,
        *,
        at: datetime | None = None,
    ) -> int:
        """Append one row per decision, in one transaction; returns how many were written."""
        stamp = (at or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="milliseconds")
        rows = [
            (
                project_of(d.issue_key),
                stamp,
                trigger.delivery_key,
                trigger.source,
                d.issue_key,
                _actor(trigger.actor),
                d.rule,
                d.kind,
                d.mode,
                d.status,
                d.change_type,
                d.summary,
                _json(list(d.reason_texts)),  # worded by plugin.policy.render
                _json([a.to_dict() for a in d.actions]),
                _json(exemption_dict(d.exemption)) if d.exemption else None,
                _json(_findings(d)),
            )
            for d in decisions
        ]
        if not rows:
            return 0
        # Jira's texts (a status name in the summary, a change type) may hold a NUL, which no
        # stored text may (PostgreSQL refuses it): the decision is recorded with U+FFFD there.
        rows = without_nul(rows)
        with self._db.write() as conn:
            conn.executemany(
                f"INSERT INTO policy_audit (project, {', '.join(COLUMNS[1:])}) "
                f"VALUES ({', '.join('?' * len(COLUMNS))})",
                rows,
            )
        return len(rows)

    def query(
        self,
        *,
        issue: str | None = None,
        rule: str | None = None,
        since: str | None = None,
        limit: int | None = None,
    ) -> list[AuditEntry]:
        """Entries oldest first, filtered by issue key, rule name and time (`since`, see below).

        `limit` keeps the newest entries; without it every match is read (the CLI's export).
        """
        where, params = _where(AuditFilter(issue=issue, rule=rule, since=since))
        sql = f"SELECT {', '.join(COLUMNS)} FROM policy_audit {where} ORDER BY id"
        if limit:
            sql = f"SELECT * FROM ({sql} DESC LIMIT {int(limit)}) AS newest ORDER BY id"
        with self._db.read() as conn:
            rows = conn.execute(sql, params).fetchall()
        return [_entry(row) for row in rows]

    def page(self, where: AuditFilter, *, limit: int, before: int | None = None) -> AuditPage:
        """At most `limit` entries, newest first, older than entry `before` when given.

        Keyset paging on `id`: a page costs the same at the end of a long log as at its start.
        """
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        clause, params = _where(where, before=before)
        with self._db.read() as conn:
            rows = conn.execute(
                f"SELECT {', '.join(COLUMNS)} FROM policy_audit {clause} ORDER BY id DESC LIMIT ?",
                (*params, limit + 1),
            ).fetchall()
        entries = [_entry(row) for row in rows[:limit]]
        return AuditPage(entries, entries[-1].id if len(rows) > limit else None)

    def count(self, where: AuditFilter) -> int:
        """How many entries match `where`: counted by SQL over the filter's index."""
        clause, params = _where(where)
        with self._db.read() as conn:
            (found,) = conn.execute(
                f"SELECT count(*) FROM policy_audit {clause}", params
            ).fetchone()
        return int(found)

    def outcome_counts(self, *, since: str) -> list[OutcomeCount]:
        """Decisions per day, project, rule and outcome since `since`, counted by SQL."""
        stamp = parse_since(since).isoformat(timespec="milliseconds")
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT substr(at, 1, 10) AS day, project, rule, outcome, count(*)"
                " FROM policy_audit WHERE at >= ? GROUP BY day, project, rule, outcome"
                " ORDER BY day, project, rule, outcome",
                (stamp,),
            ).fetchall()
        return [OutcomeCount(*row) for row in rows]

    def close(self) -> None:
        self._db.close()


class SQLiteAuditLog(SQLAuditLog):
    """The audit log in the shared SQLite file (see the module docstring)."""

    def __init__(self, db: str | Path | StoreConnection) -> None:
        self._db = db if isinstance(db, StoreConnection) else StoreConnection(db)
        self.migrate()

    def migrate(self) -> int:
        """Apply the audit schema steps not applied yet; returns how many ran."""
        return len(self._db.migrate(MIGRATIONS))


def open_audit_log(location: str | Path | PostgresURL) -> AuditLog:
    """The audit log where `HINDSIGHT_DB` says: a SQLite file, or a PostgreSQL database.

    The one place that names the implementations: the composition root, pages and commands
    pass the configured location here.
    """
    if isinstance(location, str) and location.startswith(("postgresql://", "postgres://")):
        location = PostgresURL(location)  # a URL given as text is never a SQLite file name
    if isinstance(location, PostgresURL):
        from plugin.audit_postgres import PostgresAuditLog

        return PostgresAuditLog(location)
    return SQLiteAuditLog(location)


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """`2026-03-01`, `2026-03-01T12:00` (UTC unless it has an offset), or a relative `30m`,
    `12h`, `7d` before now; returned in UTC."""
    text = text.strip()
    units = {"m": "minutes", "h": "hours", "d": "days"}
    try:
        if len(text) > 1 and text[-1] in units and text[:-1].isascii() and text[:-1].isdigit():
            return (now or datetime.now(UTC)) - timedelta(**{units[text[-1]]: int(text[:-1])})
        parsed = datetime.fromisoformat(text)
    except (ValueError, OverflowError):  # not a time, or an age before year 1
        raise BadAuditQuery(
            f"--since {text!r}: give a date (2026-03-01), a time (2026-03-01T12:00) or a "
            "relative age (30m, 12h, 7d)"
        ) from None
    # In UTC, as entries are stored: their times compare as text.
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def to_csv(entries: Iterable[AuditEntry]) -> str:
    """CSV with one row per entry; lists and mappings as JSON text in their cells, and no
    cell a spreadsheet would run as a formula (`plugin.export`)."""
    return csv_text(COLUMNS, (entry.to_dict() for entry in entries))


def _where(found: AuditFilter, *, before: int | None = None) -> tuple[str, list[Any]]:
    """The WHERE clause and its parameters; each filter is a column an index starts with."""
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (
        ("issue_key", found.issue.upper() if found.issue else None),
        ("rule", found.rule),
        ("project", found.project.upper() if found.project else None),
        ("outcome", found.outcome),
    ):
        if value:
            clauses.append(f"{column} = ?")
            params.append(value)
    if found.since:
        clauses.append("at >= ?")
        params.append(parse_since(found.since).isoformat(timespec="milliseconds"))
    if before is not None:
        clauses.append("id < ?")
        params.append(before)
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), params


def _entry(row: Sequence[Any]) -> AuditEntry:
    values = dict(zip(COLUMNS, row, strict=True))
    values["reasons"] = json.loads(values["reasons"])
    values["actions"] = json.loads(values["actions"])
    values["exemption"] = json.loads(values["exemption"]) if values["exemption"] else None
    values["findings"] = json.loads(values["findings"]) if values["findings"] else None
    return AuditEntry(**values)


def _findings(decision: PolicyDecision) -> dict[str, Any]:
    return {
        "headline": decision.headline.to_dict(),
        "reasons": [reason.to_dict() for reason in decision.reasons],
    }


def _json(value: Any) -> str:
    """A JSON column's text, its strings without NUL (kb.text.NUL) like the other columns."""
    return json.dumps(without_nul(value), default=str)


def _actor(user: User | None) -> str | None:
    if user is None:
        return None
    return user.display_name or user.ref or None
