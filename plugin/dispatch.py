"""Route each Jira event to the handlers registered for its type (no HTTP, no queue here).

The webhook pipeline calls `Dispatcher.dispatch` once per delivery. Handlers must be idempotent:
the pipeline may run a delivery again after a crash or a retry, so a handler re-reads the
current state and never writes twice.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, Protocol

from plugin.events import JiraEvent

Outcome = Literal["acted", "reported", "no-op", "skipped"]
OUTCOMES: frozenset[str] = frozenset({"acted", "reported", "no-op", "skipped"})


@dataclass(frozen=True)
class HandlerResult:
    """What one handler did with one event: data for logs, the delivery record and metrics."""

    outcome: Outcome
    detail: str = ""
    data: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(
                f"unknown handler outcome {self.outcome!r}; allowed: {sorted(OUTCOMES)}"
            )


class EventHandler(Protocol):
    """A named piece of work run for each event of the types it was registered for."""

    def __call__(self, event: JiraEvent, delivery_key: str) -> HandlerResult: ...


class HandlerFailed(Exception):
    """A handler raised: carries which one, and the results of the handlers that ran before it.

    The original exception is `__cause__` (and `.cause`); the pipeline looks at it to decide
    between a retry with backoff (retryable Jira errors) and a counted failure.
    """

    def __init__(
        self, handler: str, cause: BaseException, completed: list[tuple[str, HandlerResult]]
    ) -> None:
        self.handler = handler
        self.cause = cause
        self.completed = completed
        super().__init__(f"handler {handler!r} failed: {type(cause).__name__}: {cause}")


class DuplicateHandler(ValueError):
    """Two handlers were registered under one name for one event type."""


class Dispatcher:
    """Handlers by event type, run in registration order."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[tuple[str, EventHandler]]] = {}

    def register(self, event_types: str | Iterable[str], name: str, handler: EventHandler) -> None:
        """Run `handler` (called `name` in logs and records) for each event type given."""
        types = [event_types] if isinstance(event_types, str) else list(event_types)
        if not types:
            raise ValueError(f"handler {name!r}: give at least one event type")
        for event_type in types:
            registered = self._handlers.setdefault(event_type, [])
            if any(existing == name for existing, _ in registered):
                raise DuplicateHandler(
                    f"a handler named {name!r} is already registered for {event_type!r}"
                )
            registered.append((name, handler))

    def handles(self, event_type: str) -> bool:
        return bool(self._handlers.get(event_type))

    def handler_names(self, event_type: str) -> list[str]:
        return [name for name, _ in self._handlers.get(event_type, [])]

    @property
    def event_types(self) -> frozenset[str]:
        return frozenset(t for t, handlers in self._handlers.items() if handlers)

    def dispatch(
        self, event: JiraEvent, delivery_key: str, *, skip: Collection[str] = ()
    ) -> list[tuple[str, HandlerResult]]:
        """Run every handler for the event's type, except those named in `skip`.

        `skip` holds the handlers that already completed on an earlier attempt of this
        delivery, so a retry does not run them again. Raises `HandlerFailed` at the first
        handler that raises.
        """
        results: list[tuple[str, HandlerResult]] = []
        for name, handler in self._handlers.get(event.webhook_event, []):
            if name in skip:
                continue
            try:
                result = handler(event, delivery_key)
            except Exception as exc:
                raise HandlerFailed(name, exc, results) from exc
            if not isinstance(result, HandlerResult):
                raise HandlerFailed(
                    name,
                    TypeError(f"handler returned {type(result).__name__}, not HandlerResult"),
                    results,
                )
            results.append((name, result))
        return results
