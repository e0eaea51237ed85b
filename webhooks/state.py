"""What the web app and workers need from the composition root: typed options and a runtime.

`webhooks` never imports `hindsight` (imports point one way); `hindsight.wiring` builds
`EdgeOptions` from the settings, and its `Runtime` satisfies `WebhookRuntime`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from flask import current_app

from plugin.dispatch import Dispatcher
from plugin.jira.port import JiraPort, User
from plugin.lessons.services import LessonsServices
from webhooks.pipeline import RetryPolicy
from webhooks.signature import WebhookCredentials
from webhooks.store import DeliveryStore
from webhooks.web.context import WebOptions

if TYPE_CHECKING:
    from webhooks.queue import DeliveryQueue

EXTENSION = "hindsight"


@dataclass(frozen=True)
class EdgeOptions:
    """How the webhook edge receives and the workers retry: read once from the settings."""

    queue_url: str  # sqlite:///path, redis://host:port/db, or memory:// in tests
    # unwrapped once at start so each request does not; its repr shows only counts
    credentials: WebhookCredentials = field(default_factory=WebhookCredentials)
    max_body_bytes: int = 1024 * 1024
    retry: RetryPolicy = field(default_factory=RetryPolicy)


class WebhookRuntime(Protocol):
    """The runtime the edge and the workers run on (see hindsight.wiring.Runtime)."""

    @property
    def edge(self) -> EdgeOptions: ...
    @property
    def web(self) -> WebOptions: ...
    @property
    def lessons(self) -> LessonsServices: ...
    @property
    def dispatcher(self) -> Dispatcher: ...
    @property
    def deliveries(self) -> DeliveryStore: ...
    @property
    def jira(self) -> JiraPort | None: ...
    @property
    def service_account(self) -> User | None: ...


@dataclass(frozen=True)
class AppState:
    runtime: WebhookRuntime
    queue: DeliveryQueue

    @property
    def edge(self) -> EdgeOptions:
        return self.runtime.edge

    def __repr__(self) -> str:
        return f"AppState({self.edge.credentials!r})"


def app_state() -> AppState:
    return current_app.extensions[EXTENSION]
