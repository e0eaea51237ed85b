"""Asking a running Hindsight service: `hindsight search` uses its JSON API, where the model is
already loaded, instead of loading the model in a fresh process (seconds on a small machine)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

TIMEOUT_SECONDS = 10.0
MAX_ANSWER_BYTES = 8 * 1024 * 1024  # 100 results of at most 20,000 characters fit easily


class ServiceUnreachable(Exception):
    """No answer from the service (connection refused, timeout, not Hindsight): search locally."""


class ServiceRefused(Exception):
    """The service answered with an error; the message is its reason (a bad token, a bad query)."""


def search_service(
    base_url: str, query: str, *, token: str | None, params: dict[str, str | int | None]
) -> list[dict[str, Any]]:
    """The results of `GET /api/lessons/search` on the service at `base_url` (its strong
    matches, as the pages show them)."""
    fields = {"q": query, **{k: v for k, v in params.items() if v not in (None, "")}}
    url = f"{base_url.rstrip('/')}/api/lessons/search?{urllib.parse.urlencode(fields)}"
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            answer = json.loads(response.read(MAX_ANSWER_BYTES))
    except urllib.error.HTTPError as error:
        raise ServiceRefused(_reason(error)) from None
    except (OSError, ValueError) as error:  # refused, timed out, reset, not JSON
        raise ServiceUnreachable(str(getattr(error, "reason", error))) from None
    results = answer.get("results") if isinstance(answer, dict) else None
    if not isinstance(results, list):
        raise ServiceUnreachable("the answer is not Hindsight's search API")
    return [item for item in results if isinstance(item, dict)]


def _reason(error: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(error.read(64 * 1024))
        message = body.get("error") if isinstance(body, dict) else None
    except (OSError, ValueError):
        message = None
    return f"HTTP {error.code}: {message or error.reason}"
