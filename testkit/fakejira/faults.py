"""Fault injection: make the next N requests matching a method and path fail or stall."""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

RESOLUTION_NOT_ON_SCREEN = (
    "Field 'resolution' cannot be set. It is not on the appropriate screen, or unknown."
)
_DEFAULT_BODIES: dict[int, dict[str, Any]] = {
    400: {"errorMessages": [], "errors": {"resolution": RESOLUTION_NOT_ON_SCREEN}},
    401: {"errorMessages": ["Client must be authenticated to access this resource."]},
    403: {"errorMessages": ["You do not have permission to perform this operation."]},
    404: {"errorMessages": ["Issue does not exist or you do not have permission to see it."]},
    429: {"errorMessages": ["Rate limit exceeded."]},
    500: {"errorMessages": ["Internal server error"]},
    503: {"errorMessages": ["Service Unavailable"]},
}


@dataclass
class Fault:
    """Answer the next `times` matching requests with `status` (after `delay` seconds).

    `path` is a glob over the request path (`/rest/api/2/issue/*/transitions`); `method` is an
    HTTP method or `*`. `status=None` with a `delay` makes a slow but successful response.
    """

    method: str
    path: str
    status: int | None
    times: int = 1
    retry_after: int | None = None
    delay: float = 0.0
    body: dict[str, Any] | None = None
    hits: int = field(default=0, init=False)

    def matches(self, method: str, path: str) -> bool:
        return (
            self.hits < self.times
            and self.method in ("*", method.upper())
            and fnmatchcase(path, self.path)
        )

    def response_body(self) -> dict[str, Any]:
        if self.body is not None:
            return self.body
        return _DEFAULT_BODIES.get(self.status or 500, {"errorMessages": ["Error"]})

    @property
    def exhausted(self) -> bool:
        return self.hits >= self.times
