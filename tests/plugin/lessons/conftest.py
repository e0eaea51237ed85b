from __future__ import annotations

from collections.abc import Iterator

import pytest

from plugin.lessons.config import LessonsSettings
from plugin.lessons.journal import LessonsJournal, SQLiteLessonsJournal
from plugin.lessons.signing import FeedbackSigner
from plugin.lessons.suggest import Suggester
from testkit.clock import StepClock
from testkit.kb import FakeIndex
from testkit.memory_jira import MemoryJira

BASE = "https://hindsight.example.test"


@pytest.fixture
def clock() -> StepClock:
    return StepClock()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def journal(request: pytest.FixtureRequest, clock: StepClock) -> Iterator[LessonsJournal]:
    """The suggestion journal on each engine (an in-memory SQLite file, a PostgreSQL database)."""
    if request.param == "sqlite":
        yield SQLiteLessonsJournal(":memory:", clock=clock)
        return
    from plugin.lessons.journal_postgres import PostgresLessonsJournal

    opened = PostgresLessonsJournal(request.getfixturevalue("postgres_url"), clock=clock)
    yield opened
    opened.close()


@pytest.fixture
def signer(clock: StepClock) -> FeedbackSigner:
    return FeedbackSigner("test-secret", clock=clock)


@pytest.fixture
def index() -> FakeIndex:
    lessons = FakeIndex()
    lessons.add(
        "L-migrate",
        "Rehearse database migrations",
        "Rehearse every database migration on a copy of production data and keep a rollback "
        "script ready before the release window.",
        project="PAY",
        tags=("database",),
    )
    lessons.add(
        "L-rollback",
        "Test the rollback path",
        "The database migration rollback was never tested, so the release stalled for hours.",
        kind="went_wrong",
        tags=("release",),
    )
    lessons.add(
        "L-vendor",
        "Confirm vendor lead times",
        "Hardware vendor lead times doubled; order servers eight weeks ahead.",
        kind="risk",
    )
    return lessons


@pytest.fixture
def jira() -> MemoryJira:
    return MemoryJira()


@pytest.fixture
def policy() -> LessonsSettings:
    return LessonsSettings(threshold=0.2, limit=3)


@pytest.fixture
def suggester(index, journal, policy, signer, clock) -> Suggester:
    return Suggester(index, journal, policy, signer, base_url=BASE, clock=clock)
