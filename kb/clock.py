"""The one clock: every component that needs the time takes a `Clock` (tests pass a fake one).

It lives in `kb`, the package every other one may import, beside `kb.database`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """The time source: `now()` is a timezone-aware UTC datetime."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


SYSTEM_CLOCK = SystemClock()
