"""Hybrid search for `LessonStore`: the keyword (bm25, `kb.keyword`) and semantic (vector) rankings,
run side by side on the store's thread pool, fused and ordered by evidence (see kb.search for
the query construction and the fusion itself).
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

import numpy as np

from kb.chunking import embedding_inputs
from kb.embedding import torch_threads, vector_parts
from kb.errors import InvalidQueryError
from kb.reads import lesson_filters, lesson_from_row, rows_by_pk
from kb.records import SORTS, SearchHit, SearchPage
from kb.search import (
    check_query_length,
    found_by,
    fuse,
    headline,
    keyword_terms,
    order_by_evidence,
    sort_hits,
    weights_for,
)
from kb.snippets import make_snippet
from kb.vectors import VectorMatrix

if TYPE_CHECKING:
    from kb.store import LessonStore

MODES = ("hybrid", "keyword", "semantic")


def search(
    store: LessonStore,
    query: str,
    *,
    limit: int = 10,
    mode: str = "hybrid",
    project: str | None = None,
    tag: str | None = None,
    kind: str | None = None,
    since: str | dt.date | None = None,
    strong_only: bool = False,
) -> list[SearchHit]:
    """The `limit` lessons that best match `query`, best first.

    mode "keyword" ranks with FTS5 bm25, "semantic" by cosine similarity of embeddings,
    "hybrid" fuses both ranks. Filters: project (case-insensitive), tag, kind, and `since`
    (lessons dated on or after it). When the semantic side runs, the lessons whose
    similarity clears `related_similarity` (strong matches) come first; `strong_only`
    leaves the others out (keyword mode has no similarity: every hit counts).
    """
    check_query_length(query, store.settings)
    if mode not in MODES:
        raise InvalidQueryError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
    if limit < 1:
        raise InvalidQueryError(f"limit must be at least 1, not {limit}")
    if mode == "semantic" and store.embedder is None:
        raise InvalidQueryError("semantic search needs an embedding model")
    filter_sql, filter_args = lesson_filters(store, project, tag, kind, since)
    use_semantic = mode != "keyword" and store.embedder is not None
    depth = max(limit, store.settings.candidates)
    matrix: VectorMatrix | None = None
    allowed: np.ndarray | None = None
    if use_semantic:
        store._check_model()
        matrix = current_matrix(store)
        if filter_sql:
            with store.db.read() as conn:
                allowed = np.fromiter(
                    (pk for (pk,) in conn.execute(filter_sql, filter_args)), dtype=np.int64
                )
    keyword_job: Future[dict[str, list[int]]] | None = None
    if mode != "semantic":
        # The keyword index, the model and BLAS all release the GIL: rank keywords in the background
        # while the query embeds and the vector matrix is multiplied.
        keyword_job = store._background().submit(
            keyword_rankings, store, query, depth, filter_sql, filter_args
        )
    semantic: dict[str, list[int]] = {}
    scores: np.ndarray | None = None
    try:
        if matrix is not None:
            query_vector = embed_query(store, query)
            # Beside the keyword ranking one thread is faster (the product is memory-bound
            # and a second thread only contends with SQLite); alone, every thread helps.
            with torch_threads(1 if keyword_job is not None else None):
                semantic, scores = semantic_rankings(store, matrix, query_vector, depth, allowed)
    finally:
        keyword = keyword_job.result() if keyword_job is not None else {}
    rankings = {**keyword, **semantic}
    fused = fuse(rankings, store.settings, weights=weights_for(query, rankings, store.settings))
    similarity: dict[int, float] = {}
    if matrix is not None and scores is not None:
        similarity = _similarities(matrix, scores, [pk for pk, _ in fused])
        bar = store.related_similarity
        assert bar is not None
        fused, strong = order_by_evidence(fused, similarity, bar)
        if strong_only:
            fused = fused[:strong]
    fused = fused[:limit]
    pks = [pk for pk, _ in fused]
    rows = rows_by_pk(store, pks)
    hits = []
    for (pk, score), ranks in zip(fused, found_by(pks, rankings), strict=True):
        row = rows[pk]
        hits.append(
            SearchHit(
                lesson=lesson_from_row(row),
                snippet=make_snippet(row["text"], query, max_terms=store.settings.max_query_terms),
                score=score,
                found_by=ranks,
                similarity=similarity.get(pk) if matrix is not None else None,
            )
        )
    return hits


def semantic_rankings(
    store: LessonStore,
    matrix: VectorMatrix,
    query_vector: np.ndarray,
    depth: int,
    allowed: np.ndarray | None,
) -> tuple[dict[str, list[int]], np.ndarray]:
    """Each model's ranking (by the name its vector part gives it) and the calibrated
    part's similarity of every lesson."""
    assert store.embedder is not None
    parts = vector_parts(store.embedder)
    if matrix.empty:  # no vectors yet: an empty matrix knows no parts, so rank none of them
        return {part.ranking: [] for part in parts}, np.zeros(0, dtype=np.float32)
    all_scores = matrix.similarities(query_vector)
    passing = None if allowed is None else np.isin(matrix.lesson_pks, allowed)
    rankings = {
        part.ranking: _semantic_ranking(matrix, row, depth, passing)
        for part, row in zip(parts, all_scores, strict=True)
    }
    calibrated = next(i for i, part in enumerate(parts) if part.similarity)
    return rankings, all_scores[calibrated]


def search_page(
    store: LessonStore,
    query: str,
    *,
    offset: int = 0,
    limit: int = 25,
    sort: str = "relevance",
    **options: Any,
) -> SearchPage:
    """A page of the results of `query` in `sort` order, and how many results there are.

    `options` are `search`'s (mode, filters). The whole result list (up to
    `settings.max_results`) is ranked once, then sorted and cut, so every page of one
    query agrees with the others and the count is the list's true length.
    """
    if sort not in SORTS:
        raise InvalidQueryError(f"unknown sort {sort!r}; use one of {', '.join(SORTS)}")
    deepest = store.settings.max_results
    if not 0 <= offset < deepest:
        raise InvalidQueryError(
            f"results stop at the best {deepest:,}; narrow the query or its filters"
        )
    hits = store.search(query, limit=deepest + 1, **options)
    capped = len(hits) > deepest
    ordered = sort_hits(hits[:deepest], sort)
    return SearchPage(ordered[offset : offset + limit], len(ordered), capped, offset, limit, sort)


def embed_query(store: LessonStore, query: str) -> np.ndarray:
    """Unit vectors of the query's model-sized chunks; a lesson scores by its best pair.

    Max over chunk pairs beat averaging the query's chunks on long queries (GitBugs).
    """
    assert store.embedder is not None
    chunks = embedding_inputs(
        "", query, store.embedder.count_tokens, store.embedder.max_tokens
    ) or [query]
    return store.embedder.embed(chunks[: store.settings.max_query_chunks])


def keyword_rankings(
    store: LessonStore, query: str, depth: int, filter_sql: str, filter_args: list[Any]
) -> dict[str, list[int]]:
    """The whole query's bm25 ranking and, for a multi-line query, its headline's."""
    rankings = {"keyword": keyword_ranking(store, query, depth, filter_sql, filter_args)}
    first_line = headline(query)
    if first_line is not None and store.settings.weights.get("headline", 1.0) > 0:
        rankings["headline"] = keyword_ranking(store, first_line, depth, filter_sql, filter_args)
    return rankings


def keyword_ranking(
    store: LessonStore, query: str, depth: int, filter_sql: str, filter_args: list[Any]
) -> list[int]:
    """The bm25 ranking of the query's selected terms in the store's keyword index."""
    with store.db.read():
        counts = store._term_counts.current(
            store.keywords, store._meta("generation") or "0", store.settings
        )
        terms = keyword_terms(query, store.settings, counts.count, counts.lessons)
        return store.keywords.rank(
            terms, depth, store.settings.column_weights, filter_sql, filter_args
        )


def current_matrix(store: LessonStore) -> VectorMatrix:
    """The vectors in memory, reloaded first when the generation counter moved since they
    were read: a write by any process, on either engine, moves it in the write's transaction.

    The counter and the vectors are read in one snapshot, so the matrix is never labelled
    with a generation newer than its vectors. One thread reloads while the others wait for its
    matrix (on PostgreSQL searches run side by side: each would load its own copy otherwise).
    """
    embedder = store.embedder
    assert embedder is not None

    def fresh(matrix: VectorMatrix | None, generation: str) -> bool:
        return matrix is not None and (matrix.generation, matrix.model) == (
            generation,
            embedder.name,
        )

    matrix = store._matrix
    if fresh(matrix, store._meta("generation") or "0"):
        assert matrix is not None
        return matrix
    with store._matrix_lock, store.db.read() as conn:
        generation = store._meta("generation") or "0"
        matrix = store._matrix
        if matrix is None or not fresh(matrix, generation):
            widths = tuple(part.dimensions for part in vector_parts(embedder))
            matrix = VectorMatrix.load(
                conn, embedder.name, generation, widths, batches=store.engine.batches
            )
            store._matrix = matrix
    return matrix


def _semantic_ranking(
    matrix: VectorMatrix, scores: np.ndarray, depth: int, passing: np.ndarray | None
) -> list[int]:
    """The `depth` lesson pks with the highest `scores` (one per lesson), best first.

    `passing` (a mask of the lessons that pass the filters) leaves the others out; None: all.
    """
    if len(scores) == 0:
        return []
    if passing is not None:
        scores = np.where(passing, scores, -np.inf)
    count = min(depth, len(scores))
    top = np.argpartition(-scores, count - 1)[:count]
    top = top[np.argsort(-scores[top], kind="stable")]
    top = top[np.isfinite(scores[top])]
    return [int(pk) for pk in matrix.lesson_pks[top]]


def _similarities(matrix: VectorMatrix, scores: np.ndarray, pks: list[int]) -> dict[int, float]:
    """Cosine similarity of each pk that has vectors (filtered-out lessons never reach here)."""
    if not pks or len(matrix.lesson_pks) == 0:
        return {}
    positions = np.searchsorted(matrix.lesson_pks, pks)
    found: dict[int, float] = {}
    for pk, position in zip(pks, positions, strict=True):
        if position < len(matrix.lesson_pks) and matrix.lesson_pks[position] == pk:
            found[pk] = float(scores[position])
    return found
