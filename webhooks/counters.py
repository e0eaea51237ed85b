"""Counters and histograms kept in the database, so every process reports the same figures.

The `metric_counters` table (created by the delivery log's migrations) holds one row per metric
and label set; a histogram is kept as counters (one row per bucket bound, plus sum and count).
Rows are keyed by the Prometheus label text, so `/metrics` (webhooks.metrics) prints them as
they are. Writes join the caller's transaction: a delivery's outcome and its counts commit
together.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from kb.database import StoreConnection
from kb.postgres import PostgresConnection

PROCESSED = "hindsight_deliveries_processed_total"
JIRA_ERRORS = "hindsight_jira_api_errors_total"
LATENCY = "hindsight_delivery_latency_seconds"
PROCESSING_TIME = "hindsight_delivery_processing_seconds"
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

Increment = tuple[str, str, float]  # metric, label text, amount


def label_text(**labels: str) -> str:
    """Prometheus label text, e.g. `event="jira:issue_updated",status="done"`."""
    return ",".join(f'{name}="{_escape(value)}"' for name, value in labels.items())


def bound_text(bound: float) -> str:
    """A histogram bucket's `le` value as Prometheus clients write it (`0.5`, `10.0`)."""
    return repr(float(bound))


def histogram_increments(metric: str, seconds: float) -> list[Increment]:
    """The counter rows one observation of `seconds` adds to a histogram."""
    rows: list[Increment] = [
        (metric + "_bucket", label_text(le=bound_text(bound)), 1.0)
        for bound in LATENCY_BUCKETS
        if seconds <= bound
    ]
    rows.append((metric + "_bucket", label_text(le="+Inf"), 1.0))
    rows.append((metric + "_sum", "", seconds))
    rows.append((metric + "_count", "", 1.0))
    return rows


class CounterStore(Protocol):
    """What the pipeline, the Jira error count and /metrics need of the stored counters."""

    def add(self, increments: Iterable[Increment]) -> None: ...
    def count_jira_error(self, status: int | None) -> None: ...
    def all(self) -> list[tuple[str, str, float]]: ...


class MetricCounters:
    """Add to and read the stored counters over the delivery log's connection."""

    def __init__(self, db: StoreConnection | PostgresConnection) -> None:
        self._db = db

    def add(self, increments: Iterable[Increment]) -> None:
        """Add each amount to its counter, in one write transaction (or the caller's)."""
        with self._db.write() as conn:
            conn.executemany(
                "INSERT INTO metric_counters (metric, labels, value) VALUES (?, ?, ?)"
                " ON CONFLICT (metric, labels)"
                " DO UPDATE SET value = metric_counters.value + excluded.value",
                list(increments),
            )

    def count_jira_error(self, status: int | None) -> None:
        """One Jira API call failed with `status` (None: no HTTP answer)."""
        self.add([(JIRA_ERRORS, label_text(status=str(status or "none")), 1.0)])

    def all(self) -> list[tuple[str, str, float]]:
        """Every stored counter as (metric, label text, value), sorted."""
        with self._db.read() as conn:
            return list(
                conn.execute("SELECT metric, labels, value FROM metric_counters ORDER BY 1, 2")
            )


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
