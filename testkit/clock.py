"""A clock for tests: time stands still until the test moves it (a `kb.clock.Clock`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class StepClock:
    """A clock that stands still until moved."""

    def __init__(self, start: datetime | None = None) -> None:
        self.at = start or datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)
