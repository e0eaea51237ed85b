"""The pages that oversee Hindsight's work: the audit log (with its CSV and JSON export) and the
dashboard. Routes of the pages blueprint (`pages.audit`, `pages.dashboard`), kept apart from the
lessons pages for size.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any, get_args

from flask import Response, render_template, url_for

from plugin.export import FORMATS
from plugin.policy.decision import DecisionStatus
from webhooks.web.audit import AuditRow, AuditRows
from webhooks.web.charts import bars_with_rate, stacked_bars
from webhooks.web.context import lessons_web
from webhooks.web.downloads import check_format, download
from webhooks.web.pages import blueprint
from webhooks.web.params import choice_param, int_param, since_param, text_param

OUTCOME_COLORS = {"pass": "#2f6f4f", "fail": "#c0392b", "error": "#7d3c98", "skipped": "#aab7b8"}
OUTCOMES = get_args(DecisionStatus)
AUDIT_PAGE_ROWS = 200  # decisions per page of /audit; older ones are a click away
AUDIT_EXPORT_ROWS = 10_000  # the newest this many matching decisions go into an export
MAX_ROW_ID = 10**12 - 1  # the largest `before` cursor accepted


def _audit_filters() -> dict[str, str]:
    filters = {key: text_param(key) for key in ("issue", "rule", "project")}
    filters["outcome"] = choice_param("outcome", ("", *OUTCOMES), "")
    filters["since"] = since_param("since") or ""
    return filters


def _audit_rows(filters: Mapping[str, str], *, before: int | None, limit: int) -> AuditRows:
    web = lessons_web()
    if web.audit is None:
        return AuditRows([], None, 0)
    return web.audit.entries(
        issue=filters["issue"] or None,
        rule=filters["rule"] or None,
        project=filters["project"] or None,
        outcome=filters["outcome"] or None,
        since=filters["since"] or None,
        before=before,
        limit=limit,
    )


@blueprint.get("/audit")
def audit() -> str:
    web = lessons_web()
    filters = _audit_filters()
    before = int_param("before", 0, 1, MAX_ROW_ID) or None
    found = _audit_rows(filters, before=before, limit=AUDIT_PAGE_ROWS)
    chosen = {key: value for key, value in filters.items() if value}
    older = url_for("pages.audit", **chosen, before=found.older) if found.older else None
    return render_template(
        "audit.html",
        rows=found.rows,
        total=found.total,
        filters=filters,
        outcomes=OUTCOMES,
        older=older,
        newest=url_for("pages.audit", **chosen) if before is not None else None,
        available=web.audit is not None,
        export={f: url_for("pages.export_audit", fmt=f, **chosen) for f in FORMATS},
        export_rows=AUDIT_EXPORT_ROWS,
    )


AUDIT_COLUMNS = (
    "at", "issue", "project", "rule", "outcome", "reasons", "actions", "actor", "event",
)  # fmt: skip


def _audit_export_row(row: AuditRow) -> dict[str, Any]:
    return {
        "at": row.at,
        "issue": row.issue_key,
        "project": row.project,
        "rule": row.rule,
        "outcome": row.outcome,
        "reasons": list(row.reasons),
        "actions": list(row.actions),
        "actor": row.actor,
        "event": row.event,
    }


@blueprint.get("/audit/export.<fmt>")
def export_audit(fmt: str) -> Response:
    """The decisions matching the audit page's filters, newest first, as CSV or JSON."""
    check_format(fmt)
    filters = _audit_filters()
    rows: list[AuditRow] = []
    before: int | None = None
    total: int | None = None
    while len(rows) < AUDIT_EXPORT_ROWS:  # keyset pages: each costs the same
        found = _audit_rows(filters, before=before, limit=AUDIT_PAGE_ROWS)
        rows.extend(found.rows)
        total = found.total if total is None else total
        if found.older is None:
            break
        before = found.older
    rows = rows[:AUDIT_EXPORT_ROWS]
    meta = {
        "filters": {k: v for k, v in filters.items() if v},
        "total": total,
        "capped": total is not None and total > len(rows),
    }
    return download(fmt, "audit", AUDIT_COLUMNS, map(_audit_export_row, rows), meta)


@blueprint.get("/dashboard")
def dashboard() -> str:
    web = lessons_web()
    days_back = int_param("days", 30, 1, 366)
    since = (date.today() - timedelta(days=days_back - 1)).isoformat()
    days = [(date.fromisoformat(since) + timedelta(days=i)).isoformat() for i in range(days_back)]
    outcome_chart, by_rule = None, []
    if web.audit is not None:
        counts = web.audit.outcome_counts(since=since)
        outcomes = sorted({c.outcome for c in counts})
        series = {o: [0] * len(days) for o in outcomes}
        table: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for c in counts:
            if c.day in days:
                series[c.outcome][days.index(c.day)] += c.count
            table[(c.rule, c.project)][c.outcome] += c.count
        outcome_chart = stacked_bars(
            days, series, title="Policy decisions per day by outcome", colors=OUTCOME_COLORS
        )
        by_rule = [
            {"rule": rule, "project": project, "outcomes": dict(found)}
            for (rule, project), found in sorted(table.items())
        ]
    rates = {r.period: r for r in web.services.journal.helpful_rates(since=since)}
    overall = web.services.journal.helpful_rates(by_day=False)
    helpful_chart = bars_with_rate(
        days,
        [rates[d].suggested if d in rates else 0 for d in days],
        [rates[d].rate if d in rates else None for d in days],
        title="Lessons suggested per day and the share of answers that said helpful",
        count_label="lessons suggested",
        rate_label="helpful rate",
    )
    return render_template(
        "dashboard.html",
        outcome_chart=outcome_chart,
        by_rule=by_rule,
        outcomes=sorted({o for row in by_rule for o in row["outcomes"]}),
        helpful_chart=helpful_chart,
        overall=overall[0] if overall else None,
        days_back=days_back,
        audit_available=web.audit is not None,
    )
