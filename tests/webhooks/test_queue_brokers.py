"""The delivery queue on real brokers, with huey's real consumer: SQLite (one machine) and Redis.

The other webhook tests run huey in immediate mode; these prove the production path: a delivery
posted to the endpoint is taken by a consumer's worker thread, a retryable Jira error is
re-scheduled through the broker after its delay, and the delivery ends done, handled once.
The Redis case runs a throwaway `redis-server` (`testkit.redis`: Debian's package and the `redis`
client, which `dev.py test` installs in CI); elsewhere it is skipped saying so.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from hindsight.config import Settings
from hindsight.wiring import Config, build_runtime
from hindsight.wsgi import create_app
from plugin.dispatch import HandlerResult
from plugin.events import JiraEvent
from plugin.jira.errors import JiraApiError
from tests.webhooks.helpers import issue_updated, post_delivery
from webhooks.queue import build_delivery_queue, build_huey
from webhooks.store import DONE
from webhooks.worker import build_consumer


@pytest.fixture(params=["sqlite", "redis"])
def broker_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'queue.db'}"
    return request.getfixturevalue("redis_url")


class FailsOnce:
    """A Jira 503 with Retry-After: 1 on the first call, then success."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, event: JiraEvent, delivery_key: str) -> HandlerResult:
        self.calls += 1
        if self.calls == 1:
            raise JiraApiError("GET", "/rest/api/2/issue/OPS-7", 503, "busy", retry_after=1)
        return HandlerResult("acted", "did it")


def test_a_consumer_processes_and_retries_through_the_broker(
    settings: Settings, broker_url: str
) -> None:
    runtime = build_runtime(Config(settings), installers=[])
    handler = FailsOnce()
    runtime.dispatcher.register("jira:issue_updated", "fails-once", handler)
    queue = build_delivery_queue(runtime, huey=build_huey(broker_url, name="test"))
    app = create_app(runtime=runtime, queue=queue, test_config={"TESTING": True})

    response = post_delivery(app.test_client(), issue_updated(), delivery_id="b-1")
    assert response.status_code == 202
    assert queue.pending() == 1  # in the broker, waiting for a consumer

    # huey's consumer installs signal handlers for its process; give pytest's back afterwards
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    consumer = build_consumer(queue, workers=2)
    consumer.start()
    try:
        deadline = time.monotonic() + 20
        row = runtime.deliveries.get("b-1")
        while row is not None and row.status != DONE and time.monotonic() < deadline:
            time.sleep(0.1)
            row = runtime.deliveries.get("b-1")
    finally:
        consumer.stop(graceful=True)
        for sig, previous in saved.items():
            signal.signal(sig, previous)

    assert row is not None and row.status == DONE, row
    assert row.attempts == 2
    assert handler.calls == 2
    assert queue.pending() == 0
