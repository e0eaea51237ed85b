"""The keyword (full-text) index of the lessons: one interface, an implementation per engine.

`KeywordIndex` is what the lesson store needs from a full-text index: index and unindex a
lesson, rank a query's terms by bm25 (title weighted above the body, Chinese through the CJK
bigrams of `kb.text`), and count the lessons a term matches (`TermCounts`, which feeds
`kb.search.selective_terms`). Which terms a query searches is decided once, engine-neutrally
(`kb.search.keyword_terms`); each implementation renders them in its own query language.

`SqliteKeywordIndex` is SQLite's FTS5 (`lessons_fts`, porter + unicode61 tokenizer);
`kb.keyword_postgres.PostgresKeywordIndex` is PostgreSQL's counterpart.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from kb.search import SearchSettings
from kb.text import cjk_index_text

# The tokenizer of `lessons_fts` (kb.schema, m001): porter stems of unicode61's tokens, case
# folded, diacritics removed. PostgreSQL's index tokenizes with it too (kb.keyword_postgres).
FTS5_TOKENIZE = "porter unicode61 remove_diacritics 2"


class KeywordIndex(Protocol):
    """The full-text index of the active lessons, keyed by the lesson's pk.

    `index` and `unindex` run inside the store's write transaction (they join it); the
    reading methods run in the caller's read transaction when there is one.
    """

    def index(self, pk: int, title: str, text: str) -> None:
        """Make the lesson findable by the words of its title and text (and their CJK bigrams)."""
        ...

    def unindex(self, pks: Sequence[int]) -> None:
        """Take these lessons out of the index (unknown pks are ignored)."""
        ...

    def rank(
        self,
        terms: Sequence[str],
        depth: int,
        weights: tuple[float, float, float],
        filter_sql: str = "",
        filter_args: Sequence[Any] = (),
    ) -> list[int]:
        """The `depth` best pks for lessons matching any of `terms`, best (bm25) first.

        `weights` are the bm25 column weights of title, text and CJK bigrams; `filter_sql`
        (a `SELECT pk FROM lessons ...` subquery with `?` placeholders for `filter_args`)
        keeps only the lessons it returns.
        """
        ...

    def count(self, term: str, cap: int) -> int:
        """How many lessons `term` matches, counting no further than `cap`."""
        ...

    def documents(self) -> int:
        """How many lessons are indexed."""
        ...


def fts5_match(terms: Sequence[str]) -> str:
    """An FTS5 MATCH expression OR-ing `terms`, each quoted (so `"`, `AND`, `OR (` are text)."""
    return " OR ".join(_quote(term) for term in terms)


def _quote(term: str) -> str:
    # FTS5 reads its query as a C string: a NUL would end it mid-phrase. NUL separates
    # tokens in an indexed text, so it is a space here too.
    return '"' + term.replace('"', '""').replace("\x00", " ") + '"'


class SqliteKeywordIndex:
    """The FTS5 table `lessons_fts` (title, text, cjk; rowid = lesson pk; kb.schema).

    Shares the store's connection: callers hold one of its transactions (the write
    transaction for `index` and `unindex`).
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def index(self, pk: int, title: str, text: str) -> None:
        self.conn.execute(
            "INSERT INTO lessons_fts (rowid, title, text, cjk) VALUES (?, ?, ?, ?)",
            (pk, title, text, cjk_index_text(title, text)),
        )

    def unindex(self, pks: Sequence[int]) -> None:
        for start in range(0, len(pks), 500):
            part = list(pks[start : start + 500])
            marks = ",".join("?" * len(part))
            self.conn.execute(f"DELETE FROM lessons_fts WHERE rowid IN ({marks})", part)

    def rank(
        self,
        terms: Sequence[str],
        depth: int,
        weights: tuple[float, float, float],
        filter_sql: str = "",
        filter_args: Sequence[Any] = (),
    ) -> list[int]:
        if not terms:
            return []
        columns = ", ".join(str(float(weight)) for weight in weights)
        sql = (
            "SELECT rowid FROM lessons_fts WHERE lessons_fts MATCH ?"
            # "+rowid" keeps the filter away from FTS5's planner: given "rowid IN (...)" it
            # runs the full-text query once per allowed row (seconds at 100k lessons).
            f"{' AND +rowid IN (' + filter_sql + ')' if filter_sql else ''}"
            f" ORDER BY bm25(lessons_fts, {columns}) LIMIT ?"
        )
        args = [fts5_match(terms), *filter_args, depth]
        return [pk for (pk,) in self.conn.execute(sql, args)]

    def count(self, term: str, cap: int) -> int:
        (found,) = self.conn.execute(
            "SELECT count(*) FROM (SELECT 1 FROM lessons_fts WHERE lessons_fts MATCH ? LIMIT ?)",
            (_quote(term), cap),
        ).fetchone()
        return int(found)

    def documents(self) -> int:
        # The docsize shadow table has one plain row per indexed lesson: a cheap count.
        return int(self.conn.execute("SELECT count(*) FROM lessons_fts_docsize").fetchone()[0])


class TermCounts:
    """How many lessons each query term matches, remembered for one store generation.

    Counting a term's lessons takes well under a millisecond even at 100k lessons, but a long
    query has dozens of terms, and a corpus's vocabulary repeats across queries. Counting stops
    past the largest count that can change `selective_terms`' choice. Use what `current`
    returns inside the store's read transaction (the SQLite index shares the store's
    connection). Threads may share it: each generation's counts are an object of their own, so
    a search still reading an older snapshot (PostgreSQL runs searches side by side) never
    writes its counts into a newer generation's.
    """

    MAX_TERMS = 50_000

    def __init__(self) -> None:
        self._latest: GenerationCounts | None = None

    def current(
        self, index: KeywordIndex, generation: str, settings: SearchSettings
    ) -> GenerationCounts:
        """The counts of `generation`, started afresh if the store changed since they were
        taken (or they grew past `MAX_TERMS`)."""
        counts = self._latest
        if (
            counts is None
            or counts.generation != generation
            or counts.index is not index
            or len(counts.counts) >= self.MAX_TERMS
        ):
            lessons = index.documents()
            # A term matching more lessons than this is never added beside a rarer one.
            cap = max(settings.max_postings, int(settings.common_term_share * lessons)) + 1
            counts = self._latest = GenerationCounts(generation, index, lessons, cap)
        return counts


@dataclass
class GenerationCounts:
    """The term counts of one store generation (see `TermCounts`)."""

    generation: str
    index: KeywordIndex
    lessons: int
    cap: int
    counts: dict[str, int] = field(default_factory=dict)

    def count(self, term: str) -> int:
        if term not in self.counts:
            self.counts[term] = self.index.count(term, self.cap)
        return self.counts[term]
