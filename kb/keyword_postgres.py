"""The keyword index on PostgreSQL: full-text search that ranks like SQLite's FTS5 bm25.

Storage: one row per active lesson in `lesson_keywords`, with two `tsvector` columns under
GIN indexes: `words` holds the title's lexemes (weight A) then the text's (B), and `cjk` the
CJK bigrams of `kb.text.cjk_index_text`, in a column of their own. The lexemes are not made by
PostgreSQL's parser and dictionaries (which split `v1.2`, `hadoop_fs` or `don't` differently
and stem with Snowball's English): they are FTS5's own tokens, from SQLite's
`porter unicode61 remove_diacritics 2` tokenizer run in memory (`Fts5Tokenizer`), written into
the `tsvector` as they are, which is what the `simple` configuration would keep. A query term
goes through the same tokenizer, so both engines match the same lessons by construction.

Ranking: `ts_rank` and `ts_rank_cd` have no inverse document frequency, so they cannot rank
like bm25. The GIN indexes find every lesson matching a selected term (the candidates FTS5
scores too, bounded by `kb.search.selective_terms`), and one SQL statement scores them with
FTS5's bm25 formula (`_RANK_SQL`): each candidate's vectors cut down to the query's lexemes
(`setweight` + `ts_filter`, a few C calls per row), k1 = 1.2, b = 0.75, each phrase's
frequency weighted by column, document frequencies counted over the candidates, the row count
and the average length kept in `lesson_keyword_totals` by the writes; only the `depth` best pks
come back. Lessons tie as FTS5 leaves them: by pk. (Scoring in Python instead cost ~90 ms more
per ranking at 100,000 lessons, most of it moving ~20,000 rows of positions to Python.)

Term counts (`count`, which `kb.ranking.TermCounts` caches per store generation for
`kb.search.selective_terms`): a one-lexeme term's count is one row of `lesson_lexemes`, each
lexeme's lessons, kept by statement triggers on `lesson_keywords` in the writing transaction; a
phrase (several lexemes, as `don't` or `v1.2` make) still counts its rows through the GIN index,
checking positions, up to the cap. The counts equal FTS5's, so both engines choose the same
terms. At 100,000 lessons (`bench.keyword_parity --scale`, both engines in turn, load 1.2-3),
the keyword rankings with the counts cold, as every first search after a write has them, took
p50/p95 259/403 ms where GIN counts took 382/2,641 (SQLite 37/51); with the counts cached
198/260 (SQLite 24/32). The price is at the writes: indexing 100,000 lessons alone took 92 s
instead of 44 (about 1,090 lessons/s instead of 2,260), each lesson upserting its ~100 lexemes.

Measured on GitBugs Hadoop (bench/keyword_parity.py: 2,503 reports, 126 duplicate queries):
the whole LessonStore on PostgreSQL (`--real-store`) against SQLite's, keyword R@5/R@10
0.738/0.833 on both (tuning half 0.810/0.889, held-out half 0.667/0.778 on both), hybrid
0.833/0.889 on both (tuning 0.857/0.952, held-out 0.810/0.825 on both): no difference.
tests/kb/test_keyword.py checks the rankings are equal on a random corpus with phrases and
Chinese.

Limits PostgreSQL imposes: a lexeme over 2,047 bytes is not indexed (FTS5 would index it), and
positions past 16,383, or past the 256th of one lexeme, collapse, so a word repeated far into
a very long lesson counts a little less than FTS5 counts it.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kb.keyword import FTS5_TOKENIZE
from kb.postgres import PostgresConnection
from kb.text import cjk_index_text

# bm25's constants, as FTS5 fixes them.
K1 = 1.2
B = 0.75

MAX_LEXEME_BYTES = 2_047  # PostgreSQL refuses a longer lexeme in a tsvector or tsquery
MAX_POSITION = 16_383  # positions past this are stored as this one
MAX_POSITIONS = 256  # positions kept per lexeme
MAX_VECTOR_BYTES = 900_000  # a tsvector must stay under 1 MB: further lexemes are left out

# The keyword index's tables: kb.schema_postgres puts them in the lesson store's first step.
# (`LEXEME_COUNTS_DDL`, below, is its step m005.)
POSTGRES_DDL = """
CREATE TABLE lesson_keywords (
    lesson_pk BIGINT PRIMARY KEY,
    words TSVECTOR NOT NULL,            -- title lexemes (weight A), then the text's (B)
    cjk TSVECTOR NOT NULL,              -- CJK bigrams (kb.text.cjk_index_text)
    title_tokens INTEGER NOT NULL,      -- positions 1..title_tokens are the title's
    tokens INTEGER NOT NULL             -- tokens of title, text and bigrams: bm25's length
);
CREATE INDEX lesson_keywords_words ON lesson_keywords USING gin (words);
CREATE INDEX lesson_keywords_cjk ON lesson_keywords USING gin (cjk);

-- bm25's row count and average length, kept by the writes (one row).
CREATE TABLE lesson_keyword_totals (
    only_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
    documents BIGINT NOT NULL,
    tokens BIGINT NOT NULL
);
INSERT INTO lesson_keyword_totals (documents, tokens) VALUES (0, 0);
"""

# How many lessons hold each lexeme (in `words` or `cjk`): a term's count is one indexed row
# (`PostgresKeywordIndex.count`). Kept by statement triggers on `lesson_keywords`, set-based
# per statement and in the writing transaction, whatever code writes; a lexeme no lesson holds
# any more loses its row. Writes hold the lesson store's advisory write lock, so the rows of
# common lexemes never queue writers against each other. kb.schema_postgres's step
# m005_lexeme_counts creates it and counts the lessons already indexed: the triggers exist
# (and lock out writers) before the count is taken, so no write falls between the two.
LEXEME_COUNTS_DDL = """
CREATE TABLE lesson_lexemes (
    lexeme TEXT COLLATE "C" PRIMARY KEY,
    documents BIGINT NOT NULL
);

CREATE FUNCTION lesson_lexemes_count() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    emptied TEXT[];
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        WITH lost AS (
            SELECT l.lexeme, count(*) AS documents FROM removed r, LATERAL (
                SELECT DISTINCT unnest(tsvector_to_array(r.words) || tsvector_to_array(r.cjk))
            ) AS l(lexeme)
            GROUP BY l.lexeme
        ), counted AS (
            UPDATE lesson_lexemes c SET documents = c.documents - lost.documents
            FROM lost WHERE c.lexeme = lost.lexeme
            RETURNING c.lexeme, c.documents
        )
        SELECT array_agg(lexeme) INTO emptied FROM counted WHERE documents <= 0;
        IF emptied IS NOT NULL THEN
            DELETE FROM lesson_lexemes WHERE lexeme = ANY(emptied);
        END IF;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO lesson_lexemes (lexeme, documents)
        SELECT l.lexeme, count(*) FROM added a, LATERAL (
            SELECT DISTINCT unnest(tsvector_to_array(a.words) || tsvector_to_array(a.cjk))
        ) AS l(lexeme)
        GROUP BY l.lexeme ORDER BY l.lexeme
        ON CONFLICT (lexeme) DO UPDATE
            SET documents = lesson_lexemes.documents + excluded.documents;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER lesson_lexemes_added AFTER INSERT ON lesson_keywords
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION lesson_lexemes_count();
CREATE TRIGGER lesson_lexemes_changed AFTER UPDATE ON lesson_keywords
    REFERENCING OLD TABLE AS removed NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION lesson_lexemes_count();
CREATE TRIGGER lesson_lexemes_removed AFTER DELETE ON lesson_keywords
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION lesson_lexemes_count();

INSERT INTO lesson_lexemes (lexeme, documents)
SELECT l.lexeme, count(*) FROM lesson_keywords k, LATERAL (
    SELECT DISTINCT unnest(tsvector_to_array(k.words) || tsvector_to_array(k.cjk))
) AS l(lexeme)
GROUP BY l.lexeme;
"""


class Fts5Tokenizer:
    """FTS5's tokenizer (`kb.keyword.FTS5_TOKENIZE`), run in an in-memory SQLite database.

    `columns` gives the tokens of each text, in order: case folded, diacritics removed, split
    on what unicode61 calls separators, Porter-stemmed, exactly as `lessons_fts` indexes them.
    One connection per thread; each call inserts a row, reads its tokens back through an
    `fts5vocab` table and rolls back, so the table is always empty.
    """

    _COLUMNS = ("title", "text", "cjk")

    def __init__(self) -> None:
        self._local = threading.local()

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(":memory:", isolation_level=None)
            conn.execute(
                f"CREATE VIRTUAL TABLE doc USING fts5({', '.join(self._COLUMNS)},"
                f" tokenize = '{FTS5_TOKENIZE}')"
            )
            conn.execute("CREATE VIRTUAL TABLE doc_tokens USING fts5vocab(doc, 'instance')")
            self._local.conn = conn
        return conn

    def columns(self, *texts: str) -> list[list[str]]:
        """The tokens of each of up to three texts."""
        if len(texts) > len(self._COLUMNS):
            raise ValueError(f"at most {len(self._COLUMNS)} texts at a time")
        padded = [*texts, *[""] * (len(self._COLUMNS) - len(texts))]
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            conn.execute("INSERT INTO doc (rowid, title, text, cjk) VALUES (1, ?, ?, ?)", padded)
            found = conn.execute(
                "SELECT col, offset, term FROM doc_tokens ORDER BY col, offset"
            ).fetchall()
        finally:
            conn.execute("ROLLBACK")
        tokens: dict[str, list[str]] = {name: [] for name in self._COLUMNS}
        for column, _, term in found:
            tokens[column].append(term)
        return [tokens[name] for name in self._COLUMNS[: len(texts)]]


@dataclass(frozen=True)
class _Document:
    words: str  # tsvector literal
    cjk: str  # tsvector literal
    title_tokens: int
    tokens: int


def _lexeme(token: str) -> str:
    return "'" + token.replace("\\", "\\\\").replace("'", "''") + "'"


def _indexable(token: str) -> bool:
    return len(token.encode()) <= MAX_LEXEME_BYTES


def _tsvector(tokens: Sequence[tuple[str, int, str]]) -> str:
    """A tsvector literal of (token, 1-based position, weight letter or "") in order."""
    positions: dict[str, list[str]] = {}
    size = 0
    for token, position, weight in tokens:
        if not _indexable(token):
            continue
        kept = positions.get(token)
        if kept is None:
            size += len(token.encode()) + 8
            if size > MAX_VECTOR_BYTES:
                continue
            kept = positions[token] = []
        if len(kept) < MAX_POSITIONS:
            kept.append(f"{min(position, MAX_POSITION)}{weight}")
            size += 2
    return " ".join(f"{_lexeme(token)}:{','.join(kept)}" for token, kept in positions.items())


class PostgresKeywordIndex:
    """`kb.keyword.KeywordIndex` on PostgreSQL (tables of `POSTGRES_DDL`).

    `index` and `unindex` join the calling thread's write transaction (`db.write()` nests);
    the reads run in one snapshot.
    """

    def __init__(self, db: PostgresConnection, tokenizer: Fts5Tokenizer | None = None) -> None:
        self._db = db
        self._tokenizer = tokenizer or Fts5Tokenizer()
        self._phrases: dict[str, tuple[str, ...]] = {}

    # -- writes

    def _document(self, title: str, text: str) -> _Document:
        title_tokens, text_tokens, grams = self._tokenizer.columns(
            title, text, cjk_index_text(title, text)
        )
        # The text starts one position after the title ends, so no phrase spans the two.
        start = len(title_tokens) + 2
        words = [(token, n + 1, "A") for n, token in enumerate(title_tokens)]
        words += [(token, start + n, "B") for n, token in enumerate(text_tokens)]
        return _Document(
            words=_tsvector(words),
            cjk=_tsvector([(token, n + 1, "") for n, token in enumerate(grams)]),
            title_tokens=len(title_tokens),
            tokens=len(title_tokens) + len(text_tokens) + len(grams),
        )

    def index(self, pk: int, title: str, text: str) -> None:
        document = self._document(title, text)
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO lesson_keywords (lesson_pk, words, cjk, title_tokens, tokens)"
                " VALUES (?, ?::tsvector, ?::tsvector, ?, ?)",
                (pk, document.words, document.cjk, document.title_tokens, document.tokens),
            )
            conn.execute(
                "UPDATE lesson_keyword_totals SET documents = documents + 1, tokens = tokens + ?",
                (document.tokens,),
            )

    def unindex(self, pks: Sequence[int]) -> None:
        if not pks:
            return
        with self._db.write() as conn:
            conn.execute(
                "WITH gone AS (DELETE FROM lesson_keywords WHERE lesson_pk = ANY(?::bigint[])"
                " RETURNING tokens)"
                " UPDATE lesson_keyword_totals SET"
                " documents = documents - (SELECT count(*) FROM gone),"
                " tokens = tokens - (SELECT coalesce(sum(tokens), 0) FROM gone)",
                (list(pks),),
            )

    # -- reads

    def _phrase(self, term: str) -> tuple[str, ...]:
        """The lexemes FTS5 makes of a quoted query term (several: a phrase; none: no match)."""
        phrase = self._phrases.get(term)
        if phrase is None:
            (tokens,) = self._tokenizer.columns(term)
            phrase = tuple(tokens) if all(_indexable(token) for token in tokens) else ()
            if len(self._phrases) >= 50_000:
                self._phrases.clear()
            self._phrases[term] = phrase
        return phrase

    def count(self, term: str, cap: int) -> int:
        phrase = self._phrase(term)
        if not phrase:
            return 0
        if len(phrase) == 1:
            with self._db.read() as conn:
                row = conn.execute(
                    "SELECT documents FROM lesson_lexemes WHERE lexeme = ?", phrase
                ).fetchone()
            return min(int(row[0]), cap) if row else 0
        # A phrase: the lessons holding its lexemes one after the other, which only the rows'
        # positions tell (the GIN index finds the candidates, each row is checked).
        query = _tsquery([phrase])
        with self._db.read() as conn:
            (found,) = conn.execute(
                "SELECT count(*) FROM (SELECT 1 FROM lesson_keywords"
                " WHERE words @@ ?::tsquery OR cjk @@ ?::tsquery LIMIT ?) AS hits",
                (query, query, cap),
            ).fetchone()
        return int(found)

    def documents(self) -> int:
        with self._db.read() as conn:
            (documents,) = conn.execute("SELECT documents FROM lesson_keyword_totals").fetchone()
        return int(documents)

    def rank(
        self,
        terms: Sequence[str],
        depth: int,
        weights: tuple[float, float, float],
        filter_sql: str = "",
        filter_args: Sequence[Any] = (),
    ) -> list[int]:
        phrases = [phrase for phrase in (self._phrase(term) for term in terms) if phrase]
        if not phrases or depth < 1:
            return []
        numbers, parts, lexemes, sizes = [], [], [], []
        for number, phrase in enumerate(phrases):
            for part, lexeme in enumerate(phrase):
                numbers.append(number)
                parts.append(part)
                lexemes.append(lexeme)
                sizes.append(len(phrase))
        # Lessons holding a phrase's lexemes apart are candidates too, but score nothing for
        # it (the statement finds where its parts stand in a row).
        query = _tsquery(phrases, adjacent=False)
        wanted = sorted(set(lexemes))
        allowed = f"lesson_pk IN ({filter_sql})" if filter_sql else "TRUE"
        title_weight, text_weight, cjk_weight = weights
        args = [wanted, wanted, *filter_args, query, query, numbers, parts, lexemes, sizes]
        args += [cjk_weight, title_weight, text_weight, depth]
        with self._db.read() as conn:
            # The planner cannot see how many rows unnest yields and would JIT-compile this
            # query, which costs more (~100 ms) than running it.
            conn.execute("SET LOCAL jit = off")
            rows = conn.execute(_RANK_SQL.format(allowed=allowed), args).fetchall()
        return [pk for (pk,) in rows]


# FTS5's bm25 (sqlite/ext/fts5/fts5_aux.c) over every lesson matching a phrase (document
# frequencies count them all, filter or not). Each is cut down to the query's lexemes
# (setweight marks them, ts_filter keeps them) and unnested: one row per lesson and lexeme
# with its positions (ascending; the title's end at title_tokens). A one-lexeme phrase's
# frequency is its column-weighted count (width_bucket counts the positions in the title); a
# longer phrase starts where each of its parts stands at start + part.
_RANK_SQL = f"""
WITH matching AS (
    SELECT lesson_pk, title_tokens, tokens,
        ts_filter(setweight(words, 'c', ?::text[]), '{{{{c}}}}') AS word_hits,
        ts_filter(setweight(cjk, 'a', ?::text[]), '{{{{a}}}}') AS cjk_hits,
        {{allowed}} AS allowed
    FROM lesson_keywords WHERE words @@ ?::tsquery OR cjk @@ ?::tsquery
), hits AS (
    SELECT m.lesson_pk, m.title_tokens, m.tokens, m.allowed, FALSE AS in_cjk, u.lexeme,
        u.positions
    FROM matching m, unnest(m.word_hits) AS u
    UNION ALL
    SELECT m.lesson_pk, m.title_tokens, m.tokens, m.allowed, TRUE, u.lexeme, u.positions
    FROM matching m, unnest(m.cjk_hits) AS u
), parts AS (
    SELECT * FROM unnest(?::int[], ?::int[], ?::text[], ?::int[]) AS t(phrase, part, lexeme, size)
), weights AS (
    SELECT ?::float8 AS cjk, ?::float8 AS title, ?::float8 AS text
), counted AS (
    SELECT h.lesson_pk, h.tokens, h.allowed, p.phrase,
        CASE WHEN h.in_cjk THEN w.cjk * cardinality(h.positions)
            ELSE w.title * width_bucket(h.title_tokens, h.positions)
                + w.text * (cardinality(h.positions) - width_bucket(h.title_tokens, h.positions))
        END AS frequency
    FROM hits h JOIN parts p ON p.lexeme = h.lexeme AND p.size = 1 CROSS JOIN weights w
    UNION ALL
    SELECT h.lesson_pk, h.tokens, h.allowed, p.phrase,
        CASE WHEN h.in_cjk THEN min(w.cjk)
            WHEN o.position - p.part <= h.title_tokens THEN min(w.title)
            ELSE min(w.text) END
    FROM hits h JOIN parts p ON p.lexeme = h.lexeme AND p.size > 1 CROSS JOIN weights w,
        unnest(h.positions) AS o(position)
    GROUP BY h.lesson_pk, h.tokens, h.allowed, h.title_tokens, h.in_cjk, p.phrase, p.size,
        o.position - p.part
    HAVING count(*) = p.size
), frequencies AS (
    SELECT lesson_pk, tokens, allowed, sum(frequency) AS frequency,
        count(*) OVER (PARTITION BY phrase) AS hits
    FROM counted GROUP BY lesson_pk, tokens, allowed, phrase
), scored AS (
    SELECT f.lesson_pk, f.allowed, f.frequency, f.tokens,
        ln((greatest(t.documents - f.hits, 0) + 0.5)::float8 / (f.hits + 0.5)) AS idf,
        t.tokens::float8 / greatest(t.documents, 1) AS average
    FROM frequencies f CROSS JOIN lesson_keyword_totals t
)
SELECT lesson_pk FROM scored WHERE allowed GROUP BY lesson_pk
ORDER BY sum(CASE WHEN idf > 0 THEN idf ELSE 1e-6 END * frequency * ({K1} + 1)
    / (frequency + {K1} * (1 - {B} + {B} * tokens / average))) DESC, lesson_pk
LIMIT ?
"""


def _tsquery(phrases: Sequence[tuple[str, ...]], *, adjacent: bool = True) -> str:
    """A tsquery literal OR-ing the phrases: each phrase's lexemes one after the other, or
    (not `adjacent`) anywhere in the lesson, which the GIN index answers without reading the
    rows back to check positions."""
    joint = " <-> " if adjacent else " & "
    return " | ".join(
        "(" + joint.join(_lexeme(lexeme) for lexeme in phrase) + ")" for phrase in phrases
    )
