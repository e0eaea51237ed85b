"""Webhook deliveries as real Jira sends them: body bytes, headers and the HMAC signature."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from plugin.jira.signature import SIGNATURE_HEADER, sign


@dataclass(frozen=True)
class Webhook:
    """One emitted delivery. `raw` is the exact body; the signature covers these bytes."""

    event: str
    body: Mapping[str, Any]
    raw: bytes
    headers: Mapping[str, str]
    identifier: str

    @property
    def actor_ref(self) -> str | None:
        user = self.body.get("user") or (self.body.get("comment") or {}).get("updateAuthor")
        if not isinstance(user, Mapping):
            return None
        return user.get("accountId") or user.get("name")


WebhookCallback = Callable[[Webhook], Any]


def build_webhook(
    body: Mapping[str, Any], identifier: str, *, secret: str | None, flavour: str
) -> Webhook:
    raw = json.dumps(body, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if flavour == "cloud":
        headers["X-Atlassian-Webhook-Identifier"] = identifier
        headers["User-Agent"] = "Atlassian Webhook HTTP Client"
    else:
        headers["User-Agent"] = "Atlassian HttpClient 3.0.0 / JIRA-9.12.0 (9120000) / Default"
    if secret is not None:
        headers[SIGNATURE_HEADER] = sign(raw, secret)
    return Webhook(str(body["webhookEvent"]), body, raw, headers, identifier)


@dataclass
class WebhookSink:
    """Where deliveries go: a callback (in-process app) or a URL (a running server)."""

    callback: WebhookCallback | None = None
    url: str | None = None
    secret: str | None = None
    responses: list[Any] = field(default_factory=list)

    def deliver(self, webhook: Webhook) -> Any:
        if self.callback is not None:
            result = self.callback(webhook)
        else:
            import requests  # loopback only: the target is a local test server

            result = requests.post(self.url or "", data=webhook.raw, headers=dict(webhook.headers))
        self.responses.append(result)
        return result
