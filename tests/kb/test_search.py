"""Query construction and fusion: headlines, common-term selection, found_by."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kb import LessonStore, SearchSettings
from kb.embedding import SideBySideEmbedder, vector_parts
from kb.errors import ModelMismatchError
from kb.keyword import fts5_match
from kb.search import (
    found_by,
    fuse,
    headline,
    keyword_terms,
    mostly_english,
    order_by_evidence,
    selective_terms,
    weights_for,
)
from testkit.kb import GlossaryEmbedder, HashingEmbedder

# Lessons each term matches in a store of 100 lessons.
COUNTS = {"outage": 60, "caused": 30, "certificate": 1, "expired": 2, "tls": 0, "renewal": 9}
LESSONS = 100


def test_headline_is_the_first_line_of_a_multi_line_query() -> None:
    assert (
        headline("\n  Disk full on namenode \nThe log volume filled up.\n")
        == "Disk full on namenode"
    )
    assert headline("disk full on namenode") is None
    assert headline("disk full\n\n   \n") is None
    assert headline("") is None


def test_common_terms_are_dropped_when_rarer_ones_remain() -> None:
    terms = ["expired", "tls", "certificate", "caused", "outage"]
    keep_two = SearchSettings(min_query_terms=2)
    assert selective_terms(terms, COUNTS.get, LESSONS, keep_two) == [
        "expired",
        "tls",
        "certificate",
    ]
    # Too few rare terms: the rarest matching ones stay, in query order; "tls" matches nothing.
    keep_three = SearchSettings(min_query_terms=3)
    assert selective_terms(terms, COUNTS.get, LESSONS, keep_three) == [
        "expired",
        "tls",
        "certificate",
        "caused",
    ]
    keep_one = SearchSettings(min_query_terms=1)
    assert selective_terms(["caused", "outage"], COUNTS.get, LESSONS, keep_one) == ["caused"]
    assert selective_terms(terms, None, LESSONS, keep_two) == terms


def test_terms_join_rarest_first_within_the_posting_budget() -> None:
    terms = ["renewal", "expired", "certificate"]
    tight = SearchSettings(min_query_terms=1, max_postings=5)
    assert selective_terms(terms, COUNTS.get, LESSONS, tight) == ["expired", "certificate"]
    roomy = SearchSettings(min_query_terms=1, max_postings=12)
    assert selective_terms(terms, COUNTS.get, LESSONS, roomy) == terms
    # The budget binds even below min_query_terms; the rarest term always stays.
    tight_three = SearchSettings(min_query_terms=3, max_postings=5)
    assert selective_terms(terms, COUNTS.get, LESSONS, tight_three) == ["expired", "certificate"]
    none = SearchSettings(max_postings=0)
    assert selective_terms(terms, COUNTS.get, LESSONS, none) == ["certificate"]


def test_keyword_terms_are_the_selected_words_then_the_cjk_bigrams() -> None:
    query = 'Expired "TLS" certificate caused an outage'
    settings = SearchSettings(min_query_terms=2)
    assert keyword_terms(query, settings) == ["expired", "tls", "certificate", "caused", "outage"]
    assert keyword_terms(query, settings, COUNTS.get, LESSONS) == ["expired", "tls", "certificate"]
    assert keyword_terms("the of and", settings, COUNTS.get, LESSONS) == []
    assert keyword_terms(query, SearchSettings(max_query_terms=2)) == ["expired", "tls"]
    assert keyword_terms("回滚失败 rollback", settings) == ["rollback", "回滚", "滚失", "失败"]


def test_fts5_match_quotes_each_term() -> None:
    assert fts5_match(["expired", 'say "hi"', "OR ("]) == '"expired" OR "say ""hi""" OR "OR ("'


def test_found_by_reports_the_better_of_the_two_keyword_ranks() -> None:
    rankings = {"keyword": [1, 2, 3], "headline": [3, 9], "semantic": [2, 7]}
    assert found_by([3, 2, 9, 7], rankings) == [
        {"keyword": 1},
        {"keyword": 2, "semantic": 1},
        {"keyword": 2},
        {"semantic": 2},
    ]
    fused = fuse(rankings, SearchSettings(), limit=3)
    # 2: 1/(10+2) + 1/(10+1); 3: 1/(10+3) + 1/(10+1); 1: 1/(10+1).
    assert [pk for pk, _ in fused] == [2, 3, 1]


def _jsonl(path: Path, lessons: list[dict[str, str]]) -> Path:
    path.write_text("\n".join(json.dumps(lesson) for lesson in lessons) + "\n")
    return path


def test_a_multi_line_query_ranks_the_lesson_sharing_its_first_line_first(
    store: LessonStore, tmp_path: Path
) -> None:
    lessons = [
        {"id": "title-match", "title": "Namenode ran out of heap", "text": "GC pauses grew."},
        {
            "id": "body-match",
            "title": "Slow balancer",
            "text": "The balancer copied blocks between racks; datanode throughput and "
            "replication queues suffered while rack awareness was misconfigured.",
        },
    ] + [
        {"id": f"filler-{n}", "title": f"Unrelated {n}", "text": "Nothing here."} for n in range(8)
    ]
    store.ingest_paths([_jsonl(tmp_path / "bugs.jsonl", lessons)])
    query = (
        "Namenode ran out of heap\n"
        "The balancer copied blocks between racks; datanode throughput and replication queues."
    )
    hits = store.search(query, mode="keyword", limit=2)
    assert [hit.id for hit in hits] == ["title-match", "body-match"]
    assert hits[0].found_by == {"keyword": 1}
    without = LessonStore(
        store.path, store.embedder, settings=SearchSettings(weights={"headline": 0.0})
    )
    with without:
        assert without.search(query, mode="keyword", limit=1)[0].id == "body-match"
    hybrid = store.search(query, limit=3)
    assert all(set(hit.found_by) <= {"keyword", "semantic"} for hit in hybrid)


def test_common_words_are_left_out_only_when_enough_rarer_ones_remain(
    store: LessonStore, tmp_path: Path
) -> None:
    lessons = [
        {"id": f"d{n}", "title": f"Deploy {n}", "text": "Deploy went out late."} for n in range(9)
    ]
    lessons.append({"id": "rollback", "title": "Deploy rollback", "text": "Rollback was slow."})
    store.ingest_paths([_jsonl(tmp_path / "deploys.jsonl", lessons)])
    assert len(store.search("deploy", mode="keyword", limit=20)) == 10
    # Two words are fewer than min_query_terms (3): both stay.
    hits = store.search("deploy rollback", mode="keyword", limit=20)
    assert hits[0].id == "rollback" and len(hits) == 10
    # "deploy" is in every lesson: it is left out while "rollback" can carry the query.
    strict = LessonStore(store.path, store.embedder, settings=SearchSettings(min_query_terms=1))
    with strict:
        hits = strict.search("deploy rollback", mode="keyword", limit=20)
    assert [hit.id for hit in hits] == ["rollback"]


def test_term_counts_follow_the_store_as_it_changes(store: LessonStore, tmp_path: Path) -> None:
    rare = [{"id": "r", "title": "Rollback rehearsal", "text": "Deploy rollback was slow."}]
    rare += [{"id": f"o{n}", "title": f"Other {n}", "text": "Nothing."} for n in range(9)]
    store.ingest_paths([_jsonl(tmp_path / "first.jsonl", rare)])
    strict = LessonStore(store.path, store.embedder, settings=SearchSettings(min_query_terms=1))
    with strict:
        # "deploy" is in 1 of 10 lessons: rare enough to keep, so it ranks "r".
        assert [hit.id for hit in strict.search("deploy", mode="keyword")] == ["r"]
        common = [{"id": f"d{n}", "title": f"Deploy {n}", "text": "Deploy."} for n in range(10)]
        strict.ingest_paths([_jsonl(tmp_path / "second.jsonl", common)])
        # Now in 11 of 20 lessons: left out beside "rollback", which only "r" has.
        hits = strict.search("deploy rollback", mode="keyword", limit=20)
        assert [hit.id for hit in hits] == ["r"]
        assert len(strict.search("deploy", mode="keyword", limit=20)) == 11


def test_order_by_evidence_puts_strong_matches_first_then_the_rest_by_meaning() -> None:
    fused = [(1, 0.9), (2, 0.8), (3, 0.7), (4, 0.6), (5, 0.5)]
    similarity = {1: 0.1, 2: 0.5, 3: 0.2, 4: 0.6, 5: 0.3}
    ordered, strong = order_by_evidence(fused, similarity, bar=0.4)
    assert [pk for pk, _ in ordered] == [2, 4, 5, 3, 1]
    assert strong == 2
    assert order_by_evidence(fused, {}, bar=0.4) == (fused, 0)  # no vectors: fused order kept


def _bilingual_store(tmp_path: Path) -> LessonStore:
    embedder = SideBySideEmbedder(
        {"semantic": HashingEmbedder("english"), "multilingual": GlossaryEmbedder("glossary")},
        similarity="multilingual",
    )
    store = LessonStore(
        tmp_path / "kb.db", embedder, settings=SearchSettings(related_similarity=0.3)
    )
    store.ingest_source(
        "retro:tls",
        "## Lessons\n- The certificate expired at night: automate renewal and alert early.\n",
    )
    store.ingest_source("retro:zh", "## 经验教训\n- 证书过期前一个月必须提醒负责人。\n")
    for n in range(6):  # same-script lessons that share a word or two with the query
        store.ingest_source(f"retro:noise{n}", f"## 经验教训\n- 过期的会议纪要第{n}版要归档。\n")
    return store


def test_a_chinese_query_finds_the_english_lesson_first_among_strong_matches(
    tmp_path: Path,
) -> None:
    with _bilingual_store(tmp_path) as store:
        hits = store.search("证书过期", limit=10)
        strong = [h for h in hits if h.similarity is not None and h.similarity >= 0.3]
        assert {h.source for h in strong} == {"retro:tls", "retro:zh"}
        assert {h.source for h in hits[:2]} == {"retro:tls", "retro:zh"}
        assert hits[0].found_by.keys() <= {"keyword", "semantic"}
        only = store.search("证书过期", limit=10, strong_only=True)
        assert [h.id for h in only] == [h.id for h in strong]
        assert store.search("入职", limit=10, strong_only=True) == []
        # keyword mode has no similarity to judge by: every match counts
        assert store.search("过期", mode="keyword", strong_only=True)


def test_side_by_side_vectors_keep_one_unit_vector_per_model(tmp_path: Path) -> None:
    embedder = SideBySideEmbedder(
        {"semantic": HashingEmbedder("a", 16), "multilingual": HashingEmbedder("b", 24)},
        similarity="multilingual",
    )
    assert embedder.name == "a+b" and embedder.dimensions == 40
    assert [(p.ranking, p.dimensions, p.similarity) for p in vector_parts(embedder)] == [
        ("semantic", 16, False),
        ("multilingual", 24, True),
    ]
    vectors = embedder.embed(["rollback rehearsal", "证书过期"])
    np.testing.assert_allclose(np.linalg.norm(vectors[:, :16], axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(vectors[:, 16:], axis=1), 1.0, atol=1e-6)
    with pytest.raises(ValueError, match="similarity must name one of"):
        SideBySideEmbedder({"semantic": HashingEmbedder()}, similarity="multilingual")


def test_a_store_of_one_model_refuses_the_side_by_side_one_until_reindexed(
    tmp_path: Path, examples: Path
) -> None:
    with LessonStore(tmp_path / "kb.db", HashingEmbedder("english")) as store:
        store.ingest_paths([examples])
    both = SideBySideEmbedder(
        {"semantic": HashingEmbedder("english"), "multilingual": GlossaryEmbedder("glossary")},
        similarity="multilingual",
    )
    with LessonStore(tmp_path / "kb.db", both) as store:
        with pytest.raises(ModelMismatchError, match="run `hindsight reindex`"):
            store.search("证书过期")
        store.reindex()
        assert store.stats().model == "english+glossary"
        assert store.search("证书过期")[0].similarity is not None


def test_the_model_that_reads_the_query_speaks_for_it() -> None:
    both = {"keyword": [1], "semantic": [1], "multilingual": [1]}
    settings = SearchSettings()
    english = weights_for("database migration rollback", both, settings)
    assert english["semantic"] == 1.0
    assert english["multilingual"] == settings.multilingual_weight_for_english
    chinese = weights_for("数据库迁移回滚 MySQL", both, settings)
    assert chinese["semantic"] == 0.0 and chinese["multilingual"] == 1.0
    alone = weights_for("数据库迁移回滚", {"keyword": [1], "semantic": [1]}, settings)
    assert alone["semantic"] == 1.0  # one model: it always speaks
    assert mostly_english("Résumé of the café outage") and not mostly_english("证书过期 TLS")


@pytest.mark.parametrize("mode", ["hybrid", "semantic"])
def test_an_empty_store_of_two_models_finds_nothing_without_error(
    store_location: str, mode: str
) -> None:
    """With both models side by side, a store with no vectors yet raised "zip() argument 2 is
    shorter than argument 1" on any hybrid or semantic search (the empty matrix knew no parts):
    the JSON API answered it as a 400, on both engines."""
    embedder = SideBySideEmbedder(
        {"semantic": HashingEmbedder("english"), "multilingual": GlossaryEmbedder("glossary")},
        similarity="multilingual",
    )
    with LessonStore(store_location, embedder) as store:
        assert store.search("certificate expired", mode=mode) == []
        assert store.search("证书过期", mode=mode, strong_only=True) == []
        store.ingest_source("retro:tls", "## Lessons\n- Renew the certificate early.\n")
        assert [h.source for h in store.search("certificate", mode=mode)] == ["retro:tls"]
