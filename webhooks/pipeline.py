"""Process one stored delivery: claim it, apply the loop guard, dispatch, record the outcome.

No HTTP and no queue here: the queue calls `DeliveryProcessor.process(key)` and, when it returns
a delay, asks again after that long. Every decision is recorded in the delivery log first, so a
crash at any point leaves the delivery where `DeliveryStore.recover` finds it.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from plugin.dispatch import Dispatcher, HandlerFailed, HandlerResult
from plugin.events import InvalidEvent, JiraEvent
from plugin.jira.errors import JiraApiError
from plugin.jira.port import User
from webhooks.store import DEAD, DONE, IGNORED, SKIPPED, Claim, Delivery, DeliveryStore

log = logging.getLogger("hindsight.deliveries")

# How long to wait before looking again when another delivery of the same issue is running.
SUBJECT_BUSY_DELAY = (0.2, 1.0)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, capped; Jira's Retry-After wins when it is longer."""

    max_attempts: int = 8
    base_seconds: float = 2.0
    max_seconds: float = 900.0

    def delay(self, attempt: int, retry_after: float | None, rand: Callable[[], float]) -> float:
        ceiling = min(self.max_seconds, self.base_seconds * 2 ** max(attempt - 1, 0))
        delay = ceiling / 2 + rand() * ceiling / 2  # "equal jitter": never less than half
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_seconds))
        return delay


class DeliveryProcessor:
    """Runs the handlers for stored deliveries, at most once at a time per delivery and issue."""

    def __init__(
        self,
        store: DeliveryStore,
        dispatcher: Dispatcher,
        *,
        owner: str,
        service_account: Callable[[], User | None] = lambda: None,
        retry: RetryPolicy | None = None,
        rand: Callable[[], float] = random.random,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.dispatcher = dispatcher
        self.owner = owner
        self._service_account = service_account
        self.retry = retry or RetryPolicy()
        self._rand = rand
        self._monotonic = monotonic

    def process(self, key: str) -> float | None:
        """Process delivery `key` if it may run now; return seconds until it should be retried."""
        claim, delivery = self.store.claim(key, self.owner)
        if claim is Claim.NOT_DUE and delivery and delivery.next_attempt_at:
            return max(delivery.next_attempt_at - self.store.now(), 0.0)
        if claim is Claim.SUBJECT_BUSY:
            low, high = SUBJECT_BUSY_DELAY
            return low + self._rand() * (high - low)
        if claim is not Claim.CLAIMED or delivery is None:
            return None
        started = self._monotonic()
        try:
            return self._run(delivery, started)
        except Exception as exc:  # the last line of defence: never leave a claim dangling
            log.exception("delivery processing crashed", extra={"fields": {"key": key}})
            return self._failed(delivery, exc, {}, started)

    def _run(self, delivery: Delivery, started: float) -> float | None:
        try:
            event = JiraEvent.from_payload(delivery.payload())
        except (InvalidEvent, ValueError) as exc:
            self._finish(delivery, DEAD, {}, started, error=f"unreadable delivery: {exc}")
            return None
        actor = event.actor
        try:
            own = self._service_account()
        except JiraApiError as exc:
            return self._failed(delivery, exc, {}, started)
        if own is not None and actor is not None and own.same_as(actor):
            detail = "caused by Hindsight's own Jira account (loop guard)"
            self._finish(delivery, SKIPPED, {}, started, error=None, detail=detail)
            return None
        if not self.dispatcher.handles(event.webhook_event):
            self._finish(delivery, IGNORED, {}, started, detail="no handler for this event")
            return None
        previous = delivery.handler_results()
        try:
            results = self.dispatcher.dispatch(event, delivery.key, skip=previous.keys())
        except HandlerFailed as failure:
            done = {**previous, **_as_records(failure.completed)}
            return self._failed(delivery, failure.cause, done, started, handler=failure.handler)
        self._finish(delivery, DONE, {**previous, **_as_records(results)}, started)
        return None

    def _failed(
        self,
        delivery: Delivery,
        cause: BaseException,
        completed: Mapping[str, Any],
        started: float,
        *,
        handler: str | None = None,
    ) -> float | None:
        """Retry later with backoff, or park as dead once the attempts are used up.

        A Jira error that cannot succeed later (4xx but 429) ends the delivery at once, with
        the reason: 404 (an issue deleted since, or one Hindsight cannot see) as skipped, any
        other as dead, to replay once its cause is fixed (a permission, a screen).
        """
        where = f"{handler}: " if handler else ""
        error = f"{where}{type(cause).__name__}: {cause}"
        if isinstance(cause, JiraApiError) and handler is None:
            self.store.counters.count_jira_error(cause.status)
        if isinstance(cause, JiraApiError) and not cause.retryable:
            status = SKIPPED if cause.status == 404 else DEAD
            self._finish(delivery, status, completed, started, error=error, detail="not retried")
            return None
        if delivery.attempts >= self.retry.max_attempts:
            self._finish(delivery, DEAD, completed, started, error=error)
            return None
        retry_after = cause.retry_after if isinstance(cause, JiraApiError) else None
        delay = self.retry.delay(delivery.attempts, retry_after, self._rand)
        if self.store.reschedule(
            delivery.key, self.owner, delay=delay, error=error, results=completed
        ):
            self._log(delivery, "retrying", completed, started, error=error, retry_in=delay)
            return delay
        return None

    def _finish(
        self,
        delivery: Delivery,
        status: str,
        results: Mapping[str, Any],
        started: float,
        *,
        error: str | None = None,
        detail: str = "",
    ) -> None:
        if self.store.finish(delivery.key, self.owner, status, results, error=error):
            self._log(delivery, status, results, started, error=error, detail=detail)
        else:
            log.warning(
                "delivery claim lost before it finished (a recovery handed it on)",
                extra={"fields": {"key": delivery.key, "event": delivery.event}},
            )

    def _log(
        self,
        delivery: Delivery,
        status: str,
        results: Mapping[str, Any],
        started: float,
        **more: Any,
    ) -> None:
        handlers = ",".join(f"{name}={r.get('outcome')}" for name, r in results.items())
        fields = {
            "key": delivery.key,
            "event": delivery.event,
            "issue": delivery.issue_key or delivery.subject,
            "outcome": status,
            "handlers": handlers,
            "attempt": delivery.attempts,
            "ms": round((self._monotonic() - started) * 1000, 1),
            **{k: v for k, v in more.items() if v},
        }
        level = logging.WARNING if status in ("retrying", DEAD) else logging.INFO
        log.log(level, "delivery %s", status, extra={"fields": fields})


def _as_records(results: list[tuple[str, HandlerResult]]) -> dict[str, dict[str, Any]]:
    return {
        name: {"outcome": result.outcome, "detail": result.detail, "data": dict(result.data)}
        for name, result in results
    }
