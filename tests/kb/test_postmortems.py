"""The 242 real post-mortems ingest cleanly and real problems find the right incidents."""

from __future__ import annotations

from pathlib import Path

import pytest

from kb import LessonStore, SentenceTransformerEmbedder
from tests.kb.conftest import shared_data

pytestmark = [pytest.mark.real_model, pytest.mark.shared_data]


@pytest.fixture(scope="module")
def postmortems(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> LessonStore:
    folder = shared_data("postmortems-icco")
    # Kept in pytest's cache when there is one: later runs skip the unchanged files and need
    # no embedding (the first run embeds ~1,150 paragraphs, a minute or two on 2 cores).
    pytest_cache = getattr(request.config, "cache", None)
    cache = (
        Path(pytest_cache.mkdir("hindsight-kb-postmortems"))
        if pytest_cache is not None
        else tmp_path_factory.mktemp("postmortems")
    )
    store = LessonStore(cache / "kb.db", SentenceTransformerEmbedder())
    report = store.ingest_paths([folder])
    assert report.errors == []
    assert len(report.outcomes) == 242
    yield store
    store.close()


@pytest.mark.parametrize(
    ("problem", "incident"),
    [
        ("an expired certificate disabled every browser extension", "5b73c1c1"),
        (
            "nodes could not finish the lock service handshake in time and left the cluster",
            "00b7f759",
        ),
    ],
)
def test_real_problem_finds_the_incident(
    postmortems: LessonStore, problem: str, incident: str
) -> None:
    hits = postmortems.search(problem, limit=3)
    assert any(incident in hit.source for hit in hits), [h.source for h in hits]
    assert hits[0].similarity is not None and hits[0].similarity > 0.3
