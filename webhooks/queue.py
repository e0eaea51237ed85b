"""The work queue: huey carries "process delivery K" messages between the web side and workers.

huey runs on SQLite (a file beside the database, no extra service) or on Redis; it brings
worker threads, delays and periodic tasks. The delivery log stays the truth: a lost message is
re-sent by the periodic recovery, and a message for a delivery that is already done is a no-op.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

from huey import Huey, MemoryHuey, RedisHuey, SqliteHuey, crontab
from huey.exceptions import RetryTask

from webhooks.pipeline import DeliveryProcessor
from webhooks.state import WebhookRuntime
from webhooks.workers import worker_identity

log = logging.getLogger("hindsight.queue")

PROCESS_TASK = "hindsight.process_delivery"
RECOVER_TASK = "hindsight.recover_deliveries"


class QueueNotConfigured(Exception):
    """The queue URL cannot be used: say which scheme is supported and what to install."""


def build_huey(url: str, *, name: str = "hindsight", immediate: bool = False) -> Huey:
    """A huey instance for `sqlite:///path`, `redis://...` or `memory://` (tests)."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        # fsync off: a message lost to a power cut is re-sent from the delivery log by recovery.
        return SqliteHuey(
            name=name,
            filename=str(path),
            fsync=False,
            timeout=30,
            results=False,
            immediate=immediate,
        )
    if url.startswith(("redis://", "rediss://")):
        if importlib.util.find_spec("redis") is None:
            raise QueueNotConfigured(
                "HINDSIGHT_QUEUE is a Redis URL but the redis client is not installed:"
                " pip install 'hindsight[redis]' (or pip install redis)"
            )
        return RedisHuey(name=name, url=url, results=False, immediate=immediate)
    if url == "memory://":
        return MemoryHuey(name=name, results=False, immediate=immediate)
    raise QueueNotConfigured(
        f"unsupported queue URL scheme in {url.split(':', 1)[0]!r}:"
        " use sqlite:///path, redis://host:port/db or memory://"
    )


class DeliveryQueue:
    """The two tasks of this service on one huey instance: process a delivery, recover."""

    def __init__(self, huey: Huey, processor: DeliveryProcessor) -> None:
        self.huey = huey
        self.processor = processor
        self._process = huey.task(name=PROCESS_TASK)(self._process_delivery)
        huey.periodic_task(crontab(minute="*"), name=RECOVER_TASK)(self.recover)

    def enqueue(self, key: str, delay: float | None = None) -> None:
        """Ask a worker to look at delivery `key` (now, or after `delay` seconds)."""
        if delay:
            self._process.schedule(args=(key,), delay=delay)
        else:
            self._process(key)

    def recover(self, *, at_start: bool = False) -> int:
        """Re-send messages for deliveries that a dead worker held or whose message was lost.

        Recently received deliveries are left to the message they have, except `at_start`: a
        killed predecessor may have taken the messages it had dequeued with it.
        """
        store = self.processor.store
        keys = store.recover(stale_after=0) if at_start else store.recover()
        for key in keys:
            self.enqueue(key)
        if keys:
            log.info("re-queued %d deliveries", len(keys), extra={"fields": {"count": len(keys)}})
        return len(keys)

    def pending(self) -> int:
        return self.huey.pending_count() + self.huey.scheduled_count()

    def _process_delivery(self, key: str) -> None:
        delay = self.processor.process(key)
        if delay is not None:
            raise RetryTask(delay=delay)


def build_delivery_queue(
    runtime: WebhookRuntime, *, huey: Huey | None = None, owner: str | None = None
) -> DeliveryQueue:
    """The queue and its processor for a runtime; `owner` names this process's worker."""
    processor = DeliveryProcessor(
        runtime.deliveries,
        runtime.dispatcher,
        owner=owner or worker_identity(),
        service_account=lambda: runtime.service_account,
        retry=runtime.edge.retry,
    )
    return DeliveryQueue(huey or build_huey(runtime.edge.queue_url), processor)
