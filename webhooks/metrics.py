"""`/metrics` in the Prometheus text format, read from the database at scrape time.

Counts live in the database (SQLite or PostgreSQL) rather than in process memory, so every
gunicorn process and every worker, on every machine, reports the same figures and a restart does
not reset them. A scrape only reads (through the
delivery log's public methods): it never writes the database.
"""

from __future__ import annotations

from collections import defaultdict

from webhooks.counters import (
    JIRA_ERRORS,
    LATENCY,
    LATENCY_BUCKETS,
    PROCESSED,
    PROCESSING_TIME,
    bound_text,
    label_text,
)
from webhooks.store import STATUSES, DeliveryStore

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_COUNTERS = {
    PROCESSED: "Deliveries finished by workers, by event and status.",
    JIRA_ERRORS: "Jira API calls that failed, by HTTP status.",
}
_HISTOGRAMS = {
    LATENCY: "Time from receiving a delivery to finishing it.",
    PROCESSING_TIME: "Time a worker spent on a delivery's last attempt.",
}


def render_metrics(store: DeliveryStore) -> str:
    lines: list[str] = []

    def family(name: str, kind: str, help_text: str) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")

    family("hindsight_deliveries", "gauge", "Deliveries in the log, by event and current status.")
    counts = store.status_counts()
    for event, status, count in sorted(counts):
        lines.append(f"hindsight_deliveries{{{label_text(event=event, status=status)}}} {count}")
    if not counts:
        for status in STATUSES:
            lines.append(f'hindsight_deliveries{{event="",status="{status}"}} 0')

    family("hindsight_queue_depth", "gauge", "Deliveries received, processing or waiting to retry.")
    lines.append(f"hindsight_queue_depth {store.queue_depth()}")
    family("hindsight_workers_alive", "gauge", "Worker processes with a recent heartbeat.")
    lines.append(f"hindsight_workers_alive {len(store.workers.live_workers())}")

    stored: dict[str, dict[str, float]] = defaultdict(dict)
    for metric, labels, value in store.counters.all():
        stored[metric][labels] = value
    for name, help_text in _COUNTERS.items():
        family(name, "counter", help_text)
        for labels, value in sorted(stored.get(name, {}).items()):
            lines.append(f"{name}{{{labels}}} {_number(value)}")
    for name, help_text in _HISTOGRAMS.items():
        family(name, "histogram", help_text)
        buckets = stored.get(name + "_bucket", {})
        for bound in (*(bound_text(b) for b in LATENCY_BUCKETS), "+Inf"):
            labels = label_text(le=bound)
            lines.append(f"{name}_bucket{{{labels}}} {_number(buckets.get(labels, 0))}")
        lines.append(f"{name}_sum {stored.get(name + '_sum', {}).get('', 0.0)!r}")
        lines.append(f"{name}_count {_number(stored.get(name + '_count', {}).get('', 0))}")
    return "\n".join(lines) + "\n"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
