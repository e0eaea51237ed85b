"""The keyword index (kb.keyword) on both engines: every test here runs on SQLite's FTS5 and on
PostgreSQL (`store_location`; the index a LessonStore there builds), plus a check that
PostgreSQL ranks exactly as FTS5 does."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass

import pytest

from kb import LessonStore
from kb.database import StoreConnection
from kb.keyword import FTS5_TOKENIZE, KeywordIndex, TermCounts
from kb.keyword_postgres import Fts5Tokenizer
from kb.schema import MIGRATIONS
from kb.search import SearchSettings, keyword_terms

WEIGHTS = SearchSettings().column_weights


@dataclass
class Engine:
    index: KeywordIndex
    write: Callable[[], AbstractContextManager[object]]

    def add(self, lessons: dict[int, tuple[str, str]]) -> None:
        with self.write():
            for pk, (title, text) in lessons.items():
                self.index.index(pk, title, text)

    def rank(self, query: str, depth: int = 10, *filters: object) -> list[int]:
        terms = keyword_terms(query, SearchSettings())
        sql = " UNION ALL ".join("SELECT ?" for _ in filters)
        return self.index.rank(terms, depth, WEIGHTS, sql, list(filters))


def _open(location: str) -> tuple[Engine, Callable[[], None]]:
    """The keyword index of a lesson store at `location`, as the store builds it."""
    store = LessonStore(location)
    return Engine(store.keywords, store.db.write), store.close


@pytest.fixture
def engine(store_location: str) -> Iterator[Engine]:
    opened, close = _open(store_location)
    try:
        yield opened
    finally:
        close()


LESSONS = {
    1: ("Rollback of the namenode upgrade", "The upgrade failed halfway; we rolled back."),
    2: ("Slow balancer", "The balancer was slow. A rollback was never needed."),
    3: ("数据库回滚失败", "升级时数据库回滚失败，备份救了我们。"),
    4: ("HDFS 回滚 drill", "Mixed text: the 回滚 drill on HDFS went well."),
    5: ("Unrelated", "Nothing to see here."),
}


def test_a_lesson_is_found_until_it_is_unindexed(engine: Engine) -> None:
    engine.add(LESSONS)
    assert engine.index.documents() == 5
    assert set(engine.rank("rollback")) == {1, 2}
    with engine.write():
        engine.index.unindex([1, 99])
        engine.index.unindex([])
    assert engine.rank("rollback") == [2]
    assert engine.index.documents() == 4


def test_the_title_outweighs_the_body_and_stems_match(engine: Engine) -> None:
    engine.add(LESSONS)
    # Lesson 1 has "rollback" in its title; 2 only in its body.
    assert engine.rank("rollback") == [1, 2]
    assert engine.rank("balancing") == [2]  # porter stems both to "balanc"
    assert engine.rank("upgrades") == [1]


def test_an_apostrophe_word_matches_as_a_phrase(engine: Engine) -> None:
    engine.add(
        {
            1: ("Reboot", "We don't reboot on Fridays."),
            2: ("Apart", "t is a letter; don is a name."),
            3: ("Short", "don't"),
        }
    )
    # Lesson 2 holds both words, apart: no match.
    assert engine.rank("don't") == [3, 1]
    assert engine.index.count("don't", 10) == 2
    assert engine.rank("Apart don't") == [2, 3, 1]


def test_chinese_is_found_through_bigrams_and_mixed_text_by_both(engine: Engine) -> None:
    engine.add(LESSONS)
    assert engine.rank("回滚") == [4, 3] or engine.rank("回滚") == [3, 4]
    assert engine.rank("数据库") == [3]
    assert engine.rank("回滚 drill")[0] == 4
    assert engine.rank("hdfs") == [4]


def test_a_filter_keeps_only_the_lessons_it_selects(engine: Engine) -> None:
    engine.add(LESSONS)
    assert engine.rank("rollback", 10, 2, 5) == [2]
    assert engine.rank("rollback", 10, 5) == []
    assert engine.rank("rollback", 1) == [1]


def test_term_counts_count_matching_lessons_up_to_the_cap(engine: Engine) -> None:
    engine.add(LESSONS)
    assert engine.index.count("rollback", 10) == 2
    assert engine.index.count("rollback", 1) == 1
    assert engine.index.count("回滚", 10) == 2
    assert engine.index.count("absent", 10) == 0
    counts = TermCounts().current(engine.index, "1", SearchSettings())
    assert counts.lessons == 5 and counts.count("balancer") == 1


HOSTILE = [
    '"',
    '""',
    "'",
    "a'b",
    'say "hi"',
    "AND OR NOT NEAR",
    "& | ! : * ( ) <-> <2>",
    "a:* & !b",
    "\\",
    "back\\slash\\'",
    "nul\x00byte",
    "\x00",
    "x" * 5_000,
    "回" * 2_000,
    "ü" * 1_500,
    "",
    "   ",
    "v1.2.3 hadoop_fs re-run don't",
    "\ud7ff\ufffd\U0001f600",
]


def test_hostile_terms_and_texts_never_raise(engine: Engine) -> None:
    engine.add({pk: (term, f"body {term} end") for pk, term in enumerate(HOSTILE, start=1)})
    for term in HOSTILE:
        engine.index.rank([term], 5, WEIGHTS)
        engine.index.count(term, 5)
        engine.rank(term)
    # What the tokenizer keeps of them is still findable.
    assert 18 in engine.rank("hadoop_fs")
    assert 4 in engine.index.rank(["a'b"], 5, WEIGHTS)


def test_the_sqlite_index_uses_the_tokenizer_postgres_copies() -> None:
    db = StoreConnection(":memory:")
    db.migrate(MIGRATIONS)
    (sql,) = db.conn.execute("SELECT sql FROM sqlite_master WHERE name = 'lessons_fts'").fetchone()
    assert f"tokenize = '{FTS5_TOKENIZE}'" in sql
    db.close()


def test_the_tokenizer_splits_folds_and_stems_as_fts5() -> None:
    (tokens,) = Fts5Tokenizer().columns("Don't re-run hadoop_fs v1.2 Café EXPIRED")
    assert tokens == ["don", "t", "re", "run", "hadoop", "fs", "v1", "2", "cafe", "expir"]


VOCABULARY = [
    "namenode",
    "datanode",
    "balancer",
    "rollback",
    "upgrade",
    "heap",
    "timeout",
    "replication",
    "block",
    "rack",
    "quota",
    "snapshot",
    "lease",
    "journal",
    "failover",
    "checkpoint",
    "token",
    "kerberos",
    "yarn",
    "container",
    "scheduler",
    "queue",
    "reducer",
    "mapper",
    "shuffle",
    "spill",
    "compaction",
    "region",
    "split",
    "merge",
    "don't",
    "can't",
    "回滚",
    "数据",
    "升级",
    "失败",
    "数据库回滚失败",
]


@pytest.mark.postgres
def test_postgres_ranks_exactly_as_fts5(postgres_url: str) -> None:
    """bm25 on PostgreSQL equals FTS5's on a random corpus: same hits, same order."""
    rng = random.Random(7)
    lessons = {}
    for pk in range(1, 301):
        title = " ".join(rng.choices(VOCABULARY, k=rng.randint(2, 6)))
        text = " ".join(rng.choices(VOCABULARY, k=rng.randint(5, 60)))
        lessons[pk] = (title, text)
    sqlite, close_sqlite = _open(":memory:")
    postgres, close_postgres = _open(postgres_url)
    try:
        sqlite.add(lessons)
        postgres.add(lessons)
        for _ in range(60):
            query = " ".join(rng.choices(VOCABULARY, k=rng.randint(1, 5)))
            assert postgres.rank(query, 20) == sqlite.rank(query, 20), query
        assert postgres.rank("rollback", 20, *range(1, 300, 3)) == sqlite.rank(
            "rollback", 20, *range(1, 300, 3)
        )
        for term in VOCABULARY:  # the counts selective_terms chooses by
            for cap in (1, 50, 1_000):
                assert postgres.index.count(term, cap) == sqlite.index.count(term, cap), term
    finally:
        close_sqlite()
        close_postgres()


def _lexeme_counts(store: LessonStore) -> dict[str, int]:
    with store.db.read() as conn:
        rows = conn.execute("SELECT lexeme, documents FROM lesson_lexemes").fetchall()
    return {lexeme: documents for lexeme, documents in rows}


def _counted_afresh(store: LessonStore) -> dict[str, int]:
    """Each lexeme's lessons counted from the indexed rows themselves."""
    with store.db.read() as conn:
        rows = conn.execute(
            "SELECT l.lexeme, count(*) FROM lesson_keywords k, LATERAL ("
            " SELECT DISTINCT unnest(tsvector_to_array(k.words) || tsvector_to_array(k.cjk))"
            ") AS l(lexeme) GROUP BY l.lexeme"
        ).fetchall()
    return {lexeme: documents for lexeme, documents in rows}


@pytest.mark.postgres
def test_postgres_lexeme_counts_follow_every_write(postgres_url: str) -> None:
    """The per-lexeme lesson counts `count` reads stay those of the indexed rows through
    indexing, unindexing, re-indexing and a row changed in place; a lexeme no lesson holds
    any more loses its row; and terms count as the GIN index finds them, capped."""
    store = LessonStore(postgres_url)
    engine = Engine(store.keywords, store.db.write)
    try:
        engine.add(LESSONS)
        engine.add({10: ("zebra", "zebra 回滚 only here")})
        assert _lexeme_counts(store) == _counted_afresh(store)
        assert _lexeme_counts(store)["zebra"] == 1 and _lexeme_counts(store)["回滚"] == 3
        with store.db.write():
            store.keywords.unindex([10, 3, 99])
        assert "zebra" not in _lexeme_counts(store)
        assert _lexeme_counts(store) == _counted_afresh(store)
        engine.add({3: LESSONS[3]})
        with store.db.write() as conn:
            conn.execute("UPDATE lesson_keywords SET cjk = ''::tsvector WHERE lesson_pk = 4")
        assert _lexeme_counts(store) == _counted_afresh(store)
        for term in ("rollback", "回滚", "数据", "balancer", "absent", "rolled back"):
            with store.db.read() as conn:
                (expected,) = conn.execute(
                    "SELECT count(*) FROM lesson_keywords WHERE words @@ ?::tsquery"
                    " OR cjk @@ ?::tsquery",
                    [" <-> ".join(f"'{t}'" for t in Fts5Tokenizer().columns(term)[0])] * 2,
                ).fetchone()
            assert store.keywords.count(term, 100) == expected, term
            assert store.keywords.count(term, 1) == min(expected, 1), term
    finally:
        store.close()


@pytest.mark.postgres
def test_postgres_lexeme_counts_step_counts_the_lessons_already_indexed(
    postgres_url: str,
) -> None:
    """Step m005 fills the counts from the rows a store indexed before it existed."""
    from kb.keyword_postgres import LEXEME_COUNTS_DDL

    store = LessonStore(postgres_url)
    try:
        engine = Engine(store.keywords, store.db.write)
        engine.add(LESSONS)
        with store.db.write() as conn:
            conn.execute("DROP TABLE lesson_lexemes")
            conn.execute("DROP FUNCTION lesson_lexemes_count() CASCADE")
            conn.execute(LEXEME_COUNTS_DDL)
        assert _lexeme_counts(store) == _counted_afresh(store)
        assert _lexeme_counts(store)["rollback"] == 2
    finally:
        store.close()
