"""What the web app and workers need from the composition root, as Protocols.

`webhooks` never imports `hindsight` (imports point one way); `hindsight.wiring.Runtime`
satisfies these shapes and is passed in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from flask import current_app
from pydantic import SecretStr

from plugin.dispatch import Dispatcher
from plugin.jira.port import JiraPort, User
from webhooks.signature import WebhookCredentials
from webhooks.store import DeliveryStore

if TYPE_CHECKING:
    from webhooks.queue import DeliveryQueue

EXTENSION = "hindsight"


class WebhookSettings(Protocol):
    """The settings the webhook edge reads (see hindsight.config.Settings)."""

    @property
    def max_body_bytes(self) -> int: ...
    @property
    def allow_unsigned(self) -> bool: ...
    @property
    def automation_header(self) -> str: ...
    @property
    def webhook_secret(self) -> Sequence[SecretStr]: ...
    @property
    def automation_token(self) -> Sequence[SecretStr]: ...
    @property
    def webhook_basic_auth(self) -> Sequence[SecretStr]: ...
    @property
    def webhook_url_token(self) -> Sequence[SecretStr]: ...
    @property
    def max_attempts(self) -> int: ...
    @property
    def retry_base_seconds(self) -> float: ...
    @property
    def retry_max_seconds(self) -> float: ...
    @property
    def queue_url(self) -> str: ...


class WebhookRuntime(Protocol):
    """The runtime the edge and the workers run on (see hindsight.wiring.Runtime)."""

    @property
    def settings(self) -> WebhookSettings: ...
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
    # Unwrapped once at start so each request does not; its repr shows only counts.
    credentials: WebhookCredentials

    @property
    def settings(self) -> WebhookSettings:
        return self.runtime.settings

    def __repr__(self) -> str:
        return f"AppState({self.credentials!r})"


def app_state() -> AppState:
    return current_app.extensions[EXTENSION]
