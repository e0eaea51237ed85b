"""The adapter's connection to Jira: every request, its errors and its retries.

Every failure surfaces as `JiraApiError("METHOD path -> HTTP status: Jira's message")`.
Retries are ours, not the library's (it is built with `max_retries=0`): the library sleeps
twice the `Retry-After`, retries connection errors for minutes and cannot be given a clock.
Here 429 and 503 are retried up to `max_retries` times, honouring `Retry-After` when it is
at most `max_retry_delay` seconds; otherwise the error surfaces at once with `retry_after` set,
so the delivery worker reschedules instead of blocking. Other 4xx are never retried. Timeouts
and connection failures are not retried here either (a write may have been applied): they
surface as `JiraApiError(status=None)`, which is `retryable`, and the worker re-reads state.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import quote

import requests
from jira import JIRA, JIRAError

from plugin.jira.errors import JiraApiError
from plugin.jira.port import Deployment

T = TypeVar("T")
API = "/rest/api/2"
RETRIED_STATUSES = frozenset({429, 503})
Sleep = Callable[[float], None]


class JiraTransport:
    """Requests to one Jira site through the `jira` library, with our errors and retries, and
    the site's `serverInfo` (Cloud or Data Center), asked once."""

    def __init__(
        self,
        client: JIRA,
        *,
        max_retries: int = 3,
        max_retry_delay: float = 60.0,
        sleep: Sleep = time.sleep,
        timeout: float | None = None,
    ) -> None:
        self.client = client
        self.base = client.server_url.rstrip("/")
        self._max_retries = max_retries
        self._max_retry_delay = max_retry_delay
        self._sleep = sleep
        self._timeout = timeout
        self._lock = threading.Lock()
        self._server_info: dict[str, Any] | None = None

    def call(self, method: str, path: str, action: Callable[[], T]) -> T:
        """Run `action` (one request to `method path`), retrying 429/503 as the module says."""
        attempt = 0
        while True:
            try:
                return action()
            except JIRAError as exc:
                error = _api_error(method, path, exc)
            except requests.Timeout as exc:
                raise JiraApiError(
                    method, path, None, f"no answer within {self._timeout}s ({type(exc).__name__})"
                ) from exc
            except requests.RequestException as exc:
                raise JiraApiError(method, path, None, f"{type(exc).__name__}: {exc}") from exc
            if error.status not in RETRIED_STATUSES or attempt >= self._max_retries:
                raise error
            delay = (
                error.retry_after
                if error.retry_after is not None
                else min(self._max_retry_delay, 2.0**attempt)
            )
            if delay > self._max_retry_delay:
                raise error  # too long to wait in a worker: let the caller reschedule
            attempt += 1
            self._sleep(delay)

    def rest(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
    ) -> Any:
        """A REST v2 call the library has no one-request method for, on its own session."""
        url = f"{self.base}{API}/{quote(path, safe='/')}"
        data = None if body is None else json.dumps(body)

        def send() -> Any:
            # the library offers no public raw request; `_session` is its authenticated
            # ResilientSession (auth, headers, TLS settings, error raising) in every 3.x
            response = self.client._session.request(method, url, params=params, data=data)
            return response.json() if response.content else None

        return self.call(method, f"{API}/{path}", send)

    def server_info(self) -> dict[str, Any]:
        """`GET /serverInfo`, asked once (the site does not change while the process runs)."""
        with self._lock:
            info = self._server_info
        if info is None:
            info = self.call("GET", f"{API}/serverInfo", self.client.server_info)
            with self._lock:
                self._server_info = info
        return info

    def deployment(self) -> Deployment:
        info = self.server_info()
        return "cloud" if str(info.get("deploymentType", "")).lower() == "cloud" else "server"


def _api_error(method: str, path: str, exc: JIRAError) -> JiraApiError:
    response = getattr(exc, "response", None)
    status = exc.status_code if exc.status_code is not None else None
    retry_after = None
    if response is not None:
        retry_after = _retry_after(response.headers.get("Retry-After"))
        message = _jira_message(response)
    else:
        message = str(exc.text or "no response body")
    return JiraApiError(method, path, status, message, retry_after=retry_after)


def _jira_message(response: requests.Response) -> str:
    """Jira's own words: `errorMessages` and `errors` (field: message), else the raw text."""
    try:
        data = response.json()
    except ValueError:
        text = (response.text or "").strip()
        return text[:300] or response.reason or "no message"
    parts: list[str] = []
    if isinstance(data, Mapping):
        messages = data.get("errorMessages") or []
        parts.extend(str(m) for m in (messages if isinstance(messages, list) else [messages]))
        errors = data.get("errors")
        if isinstance(errors, Mapping):
            parts.extend(f"{field}: {text}" for field, text in errors.items())
        for single in ("message", "errorMessage"):
            if not parts and data.get(single):
                parts.append(str(data[single]))
    return "; ".join(parts) or response.reason or "no message"


def _retry_after(value: str | None) -> float | None:
    """`Retry-After` as seconds: an integer or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())
