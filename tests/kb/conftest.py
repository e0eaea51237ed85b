"""Fixtures for the knowledge-base tests: a fake embedder, a fresh store, the examples."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hindsight.wiring import Config
from kb import LessonStore
from testkit.kb import HashingEmbedder

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "hindsight" / "examples" / "retrospectives"
SHARED_DATA = ROOT.parent / "shared" / "data"


def shared_data(name: str) -> Path:
    """A folder of ../shared/data, or skip the test saying it is absent."""
    folder = SHARED_DATA / name
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent: this test reads the shared real data")
    return folder


@pytest.fixture
def embedder() -> HashingEmbedder:
    return HashingEmbedder()


@pytest.fixture
def store(store_config: Config, embedder: HashingEmbedder) -> Iterator[LessonStore]:
    """A fresh store on each engine: a SQLite file, then a PostgreSQL database (store_location),
    opened from the configuration as the service opens it."""
    with LessonStore(store_config.kb.db, embedder) as opened:
        yield opened


@pytest.fixture
def examples(tmp_path: Path) -> Path:
    """A private copy of the shipped examples, so tests may edit and delete files."""
    target = tmp_path / "examples"
    target.mkdir()
    for path in EXAMPLES.iterdir():
        (target / path.name).write_bytes(path.read_bytes())
    return target
