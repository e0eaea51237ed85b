"""The one exception type the Jira port raises, whatever the transport."""

from __future__ import annotations


class JiraApiError(Exception):
    """A Jira REST call failed: reads `METHOD path -> HTTP status: Jira's message`.

    `status` is None for transport failures (timeout, connection refused). `retry_after` carries
    Jira's `Retry-After` in seconds when it sent one. `retryable` tells workers whether trying the
    same call later can succeed (429, 5xx and transport failures can; other 4xx cannot).
    """

    def __init__(
        self,
        method: str,
        path: str,
        status: int | None,
        message: str,
        *,
        retry_after: float | None = None,
    ) -> None:
        self.method = method.upper()
        self.path = path
        self.status = status
        self.message = message
        self.retry_after = retry_after
        shown = f"HTTP {status}" if status is not None else "no response"
        super().__init__(f"{self.method} {path} -> {shown}: {message}")

    @property
    def retryable(self) -> bool:
        return self.status is None or self.status == 429 or self.status >= 500


class JiraNotConfigured(Exception):
    """No Jira is configured: set HINDSIGHT_JIRA_URL and credentials, or run report-only."""
