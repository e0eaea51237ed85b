"""Several processes, one SIGKILLed of each kind: every accepted delivery takes effect once.

The harness of `bench/multiprocess_reliability.py`, small: two gunicorn web processes and two
`hindsight worker` processes on one database and a throwaway Redis, the fake Jira over HTTP
(every request checked against Atlassian's descriptions), a few dozen signed deliveries paced
over a few seconds so that one web process and then one worker (while it holds deliveries) are
SIGKILLed mid-stream and restarted. Runs on both engines (`store_location`: a SQLite file, then
the session's PostgreSQL); skips, saying what to install, only when redis-server (or, for
PostgreSQL, the server programs) are absent.
"""

from __future__ import annotations

from typing import Any

import pytest

from bench.multiprocess_reliability import Report, run
from testkit.redis import NoRedis

ISSUES = 40


def test_two_web_and_two_workers_survive_a_sigkill_of_each_exactly_once(
    store_location: str, jira_openapi_validator: Any
) -> None:
    engine = "postgresql" if store_location.startswith("postgresql://") else "sqlite"
    try:
        report: Report = run(
            engine, db=store_location, issues=ISSUES, rate=15.0,
            validator=jira_openapi_validator, max_seconds=120.0,
        )  # fmt: skip
    except NoRedis as exc:
        pytest.skip(f"the multi-process test needs its servers: {exc}")
    assert report.skipped is None, report.skipped

    # both kills landed mid-stream, and the worker died holding deliveries
    assert [o.what for o in report.outages] == ["web 0", "worker 0"]
    web, worker = report.outages
    assert report.during(web)[0] > 0, "nothing was sent while web 0 was down"
    assert worker.held, "the worker was killed holding no delivery"

    load, found = report.load, report.found
    assert len(load.accepted) == ISSUES and not load.unsent and not load.rejected
    assert report.statuses == {"done": ISSUES}
    assert found.lost == []
    assert found.duplicates == []
    assert found.rerun >= 1  # the killed worker's deliveries ran again, without a second effect
    assert report.violations == 0
    assert found.audit_missing == []  # a re-run records what its dead predecessor did not
