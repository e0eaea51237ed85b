"""The audit log: every policy decision and action, append-only, in the shared SQLite database.

One row per rule decision: when, which delivery/event, issue, actor, rule, mode, outcome, reasons,
actions with their results, and any exemption (who, why). Triggers refuse UPDATE and DELETE, so
the log is evidence, not a scratchpad. Its schema is the `hindsight.audit` migration set, applied
through `kb.database` like every other area's.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from kb.database import connect, migrate, run_script, transaction
from plugin.jira.port import User
from plugin.policy.decision import PolicyDecision, Trigger

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


COLUMNS = (
    "id", "at", "delivery", "event", "issue_key", "actor", "rule", "kind", "mode", "outcome",
    "change_type", "summary", "reasons", "actions", "exemption",
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

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in COLUMNS}


class AuditLog:
    """Append decisions; read them back filtered. Thread-safe over one connection."""

    def __init__(self, path: str | Path | None = None, *, conn: sqlite3.Connection | None = None):
        if conn is None and path is None:
            raise ValueError("give the database path or an open connection")
        self._conn = conn if conn is not None else connect(path)  # type: ignore[arg-type]
        self._lock = threading.Lock()
        self.migrate()

    def migrate(self) -> int:
        """Apply the audit schema steps not applied yet; returns how many ran."""
        with self._lock:
            return len(migrate(self._conn, MIGRATIONS))

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
                json.dumps(list(d.reasons)),
                json.dumps([a.to_dict() for a in d.actions], default=str),
                json.dumps(d.exemption.to_dict()) if d.exemption else None,
            )
            for d in decisions
        ]
        if not rows:
            return 0
        with self._lock, transaction(self._conn):
            self._conn.executemany(
                f"INSERT INTO policy_audit ({', '.join(COLUMNS[1:])}) "
                f"VALUES ({', '.join('?' * (len(COLUMNS) - 1))})",
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
        """Entries oldest first, filtered by issue key, rule name and time (`since`, see below)."""
        where, params = [], []
        if issue:
            where.append("issue_key = ?")
            params.append(issue.upper())
        if rule:
            where.append("rule = ?")
            params.append(rule)
        if since:
            where.append("at >= ?")
            params.append(parse_since(since).isoformat(timespec="milliseconds"))
        sql = f"SELECT {', '.join(COLUMNS)} FROM policy_audit"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id"
        if limit:
            sql = f"SELECT * FROM ({sql} DESC LIMIT {int(limit)}) ORDER BY id"
        with self._lock:
            rows = self._conn.execute(sql, params).fetchall()
        return [_entry(row) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """`2026-03-01`, `2026-03-01T12:00`, or a relative `30m`, `12h`, `7d` before now (UTC)."""
    from datetime import timedelta

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
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def to_csv(entries: Iterable[AuditEntry]) -> str:
    """CSV with one row per entry; lists and mappings as JSON text in their cells."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for entry in entries:
        row = entry.to_dict()
        writer.writerow(
            json.dumps(row[c]) if isinstance(row[c], list | dict) else row[c] for c in COLUMNS
        )
    return out.getvalue()


def _entry(row: Sequence[Any]) -> AuditEntry:
    values = dict(zip(COLUMNS, row, strict=True))
    values["reasons"] = json.loads(values["reasons"])
    values["actions"] = json.loads(values["actions"])
    values["exemption"] = json.loads(values["exemption"]) if values["exemption"] else None
    return AuditEntry(**values)


def _actor(user: User | None) -> str | None:
    if user is None:
        return None
    return user.display_name or user.ref or None
