"""The shipped models on the shipped examples: English and Chinese meet, unrelated text does not.

These load the real models (marked real_model); the figures behind the threshold are in
bench.kb_bilingual and docs/decisions/0002-multilingual-embedding-model.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from kb import DEFAULT_MODEL_NAME, LessonStore
from kb.embedding import load_embedder, related_similarity
from plugin.jira.port import Issue, IssueType, Status
from plugin.lessons.config import LessonsSettings
from plugin.lessons.index import KbLessonIndex
from plugin.lessons.journal import SQLiteLessonsJournal
from plugin.lessons.signing import FeedbackSigner
from plugin.lessons.suggest import Suggester
from tests.kb.conftest import EXAMPLES

pytestmark = pytest.mark.real_model


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LessonStore]:
    path = tmp_path_factory.mktemp("multilingual") / "kb.db"
    with LessonStore(path, load_embedder()) as opened:
        assert not opened.ingest_paths([EXAMPLES]).errors
        yield opened


def _suggested(store: LessonStore, summary: str, description: str = "") -> list[str]:
    """The sources of the lessons a new issue would get, at the shipped (calibrated) threshold."""
    policy = LessonsSettings(threshold=None)
    journal = SQLiteLessonsJournal(":memory:")
    suggester = Suggester(
        KbLessonIndex(store), journal, policy, FeedbackSigner("test"), base_url="http://h"
    )
    issue = Issue(
        key="NEW-1",
        id="1",
        project="NEW",
        issuetype=IssueType("1", "Task"),
        status=Status("1", "Open", "new"),
        summary=summary,
        description=description,
    )
    return [Path(s.hit.source).name for s in suggester.rank(issue)]


def test_the_default_is_both_models_with_a_calibrated_threshold() -> None:
    embedder = load_embedder()
    assert embedder.name == DEFAULT_MODEL_NAME
    vectors = embedder.embed(["证书过期", "certificate expired"])
    assert vectors.shape == (2, embedder.dimensions)
    assert 0 < related_similarity(embedder.name) < 1


def test_a_query_alone_and_in_bulk_get_the_same_vector() -> None:
    embedder = load_embedder()
    texts = ["database migration rollback failed", "证书过期导致服务中断"]
    alone = np.vstack([embedder.embed([text]) for text in texts])
    bulk = embedder.embed(texts + [f"filler lesson {n}" for n in range(8)])[:2]
    assert ((alone * bulk).sum(axis=1) / 2).min() > 0.999  # two unit parts per vector


def test_a_chinese_question_finds_the_english_tls_retrospective(store: LessonStore) -> None:
    hits = store.search("证书过期", limit=5, strong_only=True)
    assert hits, "no strong match for 证书过期"
    assert Path(hits[0].source).name == "2022-09-expired-tls-certificate.md"


def test_an_english_question_finds_the_chinese_migration_retrospective(
    store: LessonStore,
) -> None:
    hits = store.search("database migration rollback", limit=10, strong_only=True)
    sources = [Path(hit.source).name for hit in hits]
    assert "2024-01-db-migration-rollback-zh.md" in sources
    assert "2024-03-payments-db-migration-rollback.md" in sources


def test_a_chinese_issue_gets_the_english_lesson_on_the_same_problem(store: LessonStore) -> None:
    sources = _suggested(
        store, "合作方无法连接 API", "凌晨证书过期，所有合作方的 TLS 握手失败，直到手工更换证书。"
    )
    assert sources and sources[0] == "2022-09-expired-tls-certificate.md"


@pytest.mark.parametrize(
    "summary",
    [
        "新员工入职培训计划",
        "办公室搬迁安排",
        "年会节目彩排时间表",
        "Office move to the fourth floor",
    ],
)
def test_an_unrelated_issue_gets_no_comment(store: LessonStore, summary: str) -> None:
    assert _suggested(store, summary) == []
    assert store.search(summary, strong_only=True) == []
