"""`LessonStore`: lessons with hybrid search, in a SQLite file or a PostgreSQL database.

Writes happen in one transaction per source holding the store's write lock (SQLite's `BEGIN
IMMEDIATE`; an advisory lock on PostgreSQL), so a source's lessons are replaced atomically,
concurrent readers see either the old or the new set, and two ingests at once simply queue.
Every write moves the `generation` counter in the same transaction: each process keeps the
vectors in memory and reloads them when it sees the counter move, whichever process wrote.
Embeddings are computed outside transactions.

This module is the facade: it owns the engine (`kb.engine`: connection, schema, the SQL that
differs), the model check and the search thread pool, and delegates each job to its module:
`kb.ingest` (files, parsing, embedding reuse), `kb.writes` (storing, indexing, removing,
reindexing), `kb.reads` (lessons, retrospectives, stats) and `kb.ranking` (hybrid search).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb import ingest, ranking, reads, writes
from kb.clock import SYSTEM_CLOCK, Clock
from kb.embedding import Embedder, related_similarity
from kb.engine import SQLConnection, is_postgres, open_engine
from kb.errors import ModelMismatchError
from kb.ingest import MAX_FILE_BYTES, Prepared, embed_hash
from kb.ingest import json_text as _json
from kb.keyword import KeywordIndex, TermCounts
from kb.postgres import PostgresURL
from kb.ranking import MODES
from kb.records import (
    IngestReport,
    Lesson,
    LessonPage,
    RetrospectiveSummary,
    SearchHit,
    SearchPage,
    SourceOutcome,
    StoreStats,
)
from kb.search import SearchSettings
from kb.vectors import VectorMatrix

if TYPE_CHECKING:
    from kb.actions import ActionItems
    from kb.curation import LessonCuration

__all__ = ["MAX_FILE_BYTES", "MODES", "LessonStore", "_json", "embed_hash"]


class LessonStore:
    """A knowledge base of lessons in a SQLite file (or ":memory:") or a PostgreSQL database.

    `location` is what `HINDSIGHT_DB` holds: a path, or a `postgresql://` URL. `embedder` may be
    None for a keyword-only store (ingest stores no vectors; `reindex` with an embedder adds
    them later). Raises `StoreUnavailableError` when the database cannot be opened.
    """

    def __init__(
        self,
        location: str | Path,
        embedder: Embedder | None = None,
        *,
        clock: Clock | None = None,
        settings: SearchSettings | None = None,
    ) -> None:
        # A PostgresURL prints without its password, so keep it as one rather than as str.
        self.path: str = PostgresURL(location) if is_postgres(location) else str(location)
        self.embedder = embedder
        self.clock = clock or SYSTEM_CLOCK
        self.settings = settings or SearchSettings()
        self.engine = open_engine(self.path)
        self.db = self.engine.db
        self._matrix: VectorMatrix | None = None
        self._matrix_lock = threading.Lock()  # one reload at a time (kb.ranking.current_matrix)
        # The full-text index (kb.keyword): FTS5 on SQLite, PostgreSQL's on that engine.
        self.keywords: KeywordIndex = self.engine.keyword_index()
        self._term_counts = TermCounts()
        self._retrospective_uris: tuple[str, dict[str, str]] = ("", {})  # generation, id -> uri
        self._executor: ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()
        try:
            self.engine.migrate()
        except BaseException:
            self.engine.close()
            raise

    @cached_property
    def curation(self) -> LessonCuration:
        """Add, edit, archive and merge lessons, each change recorded (see kb.curation)."""
        from kb.curation import LessonCuration

        return LessonCuration(self)

    @cached_property
    def actions(self) -> ActionItems:
        """The action items read from retrospectives or added on the web (see kb.actions)."""
        from kb.actions import ActionItems

        return ActionItems(self)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        self.engine.close()

    def __enter__(self) -> LessonStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ transactions

    @contextmanager
    def _write(self, *, bump: bool = True) -> Iterator[SQLConnection]:
        """One write transaction; it takes the store's write lock up front (no deadlock).

        `bump` moves the generation counter in the same transaction, which tells every process
        (this one included) to reload its vectors and caches: any change to lessons must.
        """
        with self.db.write() as conn:
            self.engine.lock_for_write(conn)
            yield conn
            if bump:
                conn.execute(
                    "UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)"
                    " WHERE key = 'generation'"
                )

    def _meta(self, key: str) -> str | None:
        with self.db.read() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _set_meta(self, conn: SQLConnection, key: str, value: str) -> None:
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def _now(self) -> str:
        return self.clock.now().astimezone(dt.UTC).isoformat(timespec="seconds")

    # ------------------------------------------------------------------ model checks

    @property
    def stored_model(self) -> str | None:
        """The model the store's vectors were made with (None before the first vector)."""
        return self._meta("embed_model")

    def _check_model(self) -> None:
        if self.embedder is None:
            return
        stored = self.stored_model
        if stored is not None and stored != self.embedder.name:
            raise ModelMismatchError(stored, self.embedder.name)

    # ------------------------------------------------------------------ ingest (kb.ingest)

    def ingest_paths(
        self,
        paths: Iterable[str | Path],
        *,
        format: str = "auto",
        project: str | None = None,
        prune: bool = False,
        on_progress: Callable[[int], None] | None = None,
        max_file_bytes: int = MAX_FILE_BYTES,
    ) -> IngestReport:
        """Ingest files and folders (recursively); a failing file never stops the others.

        `project` is the default for lessons whose source names none. `on_progress` is called
        with the number of files finished since the last call. A file over `max_file_bytes`
        fails without being read.
        """
        return ingest.ingest_paths(
            self,
            paths,
            format=format,
            project=project,
            prune=prune,
            on_progress=on_progress,
            max_file_bytes=max_file_bytes,
        )

    def ingest_source(
        self,
        uri: str,
        text: str,
        *,
        format: str = "markdown",
        title: str | None = None,
        project: str | None = None,
        tags: Sequence[str] = (),
        date: str | dt.date | None = None,
        url: str | None = None,
    ) -> SourceOutcome:
        """Ingest one in-memory source (e.g. a closed Jira retrospective) under `uri`.

        Replaces that source's previous lessons atomically; unchanged text is a no-op. The
        keyword arguments override what the text itself says (tags are added).
        Raises IngestError when the text yields no lessons, is malformed, or is larger than
        MAX_FILE_BYTES (the limit a file has).
        """
        return ingest.ingest_source(
            self,
            uri,
            text,
            format=format,
            title=title,
            project=project,
            tags=tags,
            date=date,
            url=url,
        )

    def _embed_rows(self, rows: list[dict[str, Any]]) -> dict[str, list[bytes]]:
        """Chunk vectors for each distinct embed_hash, reusing any the store already has."""
        return ingest.embed_rows(self, rows)

    # ------------------------------------------------------------------ writes (kb.writes)

    def _store_batch(self, batch: list[Prepared]) -> list[SourceOutcome]:
        return writes.store_batch(self, batch)

    # Called as store._index_lesson(conn, ...): writes' functions take the store first.
    _insert_lesson = writes.insert_lesson
    _index_lesson = writes.index_lesson
    _unindex_lessons = writes.unindex_lessons

    def remove_source(self, uri: str) -> int:
        """Delete a source and its lessons; returns how many lessons went."""
        return writes.remove_source(self, uri)

    def prune_missing_files(self) -> tuple[int, int]:
        """Remove the lessons of file sources whose file is gone: (sources, lessons) removed."""
        return writes.prune_missing_files(self)

    def reindex(
        self, *, batch_size: int = 256, on_progress: Callable[[int], None] | None = None
    ) -> int:
        """Embed every lesson that lacks vectors from the current model; returns how many.

        Vectors of other models are dropped at the end, and the store then records the model.
        Safe to interrupt and run again: finished batches are kept.
        """
        return writes.reindex(self, batch_size=batch_size, on_progress=on_progress)

    # ------------------------------------------------------------------ reading (kb.reads)

    def get(self, lesson_id: str) -> Lesson:
        """The lesson with this id; raises LessonNotFoundError."""
        return reads.get(self, lesson_id)

    def browse(
        self,
        *,
        project: str | None = None,
        tag: str | None = None,
        kind: str | None = None,
        since: str | dt.date | None = None,
        sort: str = "date",
        offset: int = 0,
        limit: int = 25,
    ) -> LessonPage:
        """Lessons chosen by filters alone, newest (or most voted) first, a page at a time.

        What a tag or project link lists. Counting and ordering are SQL over the filter
        columns' indexes; OFFSET reads past the skipped rows, so callers bound `offset`.
        """
        return reads.browse(
            self,
            project=project,
            tag=tag,
            kind=kind,
            since=since,
            sort=sort,
            offset=offset,
            limit=limit,
        )

    def retrospectives(
        self, *, project: str | None = None, offset: int = 0, limit: int = 50
    ) -> tuple[list[RetrospectiveSummary], int]:
        """Retrospectives newest first (by their lessons' latest date), a page, and the total.

        `project` keeps those with a lesson of that project (case-insensitive).
        """
        return reads.retrospectives(self, project=project, offset=offset, limit=limit)

    def retrospective(self, retro_id: str) -> tuple[RetrospectiveSummary, list[Lesson]]:
        """A retrospective by its public id and its lessons in document order.

        Raises LessonNotFoundError when no ingested source has that id.
        """
        return reads.retrospective(self, retro_id)

    def retrospectives_by_id(self, ids: Iterable[str]) -> dict[str, RetrospectiveSummary]:
        """Summaries of the given retrospectives (unknown ids are left out)."""
        return reads.retrospectives_by_id(self, ids)

    def is_empty(self) -> bool:
        """Whether the store has no lessons at all."""
        return reads.is_empty(self)

    def stats(self) -> StoreStats:
        """Counts of lessons, sources and vectors, by kind and by project."""
        return reads.stats(self)

    # ------------------------------------------------------------------ search (kb.ranking)

    @property
    def related_similarity(self) -> float | None:
        """The similarity from which a lesson is related to a text: the settings' when given,
        else the one calibrated for the store's model (None without a model)."""
        if self.embedder is None:
            return None
        if self.settings.related_similarity is not None:
            return self.settings.related_similarity
        return related_similarity(self.embedder.name)

    def search(
        self,
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
        return ranking.search(
            self,
            query,
            limit=limit,
            mode=mode,
            project=project,
            tag=tag,
            kind=kind,
            since=since,
            strong_only=strong_only,
        )

    def search_page(
        self,
        query: str,
        *,
        offset: int = 0,
        limit: int = 25,
        sort: str = "relevance",
        **options: Any,
    ) -> SearchPage:
        """A page of the results of `query` in `sort` order, and how many results there are.

        `options` are `search`'s (mode, filters); every page of one query agrees with the
        others and the count is the result list's true length.
        """
        return ranking.search_page(self, query, offset=offset, limit=limit, sort=sort, **options)

    def _background(self) -> ThreadPoolExecutor:
        with self._executor_lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="kb-keyword")
            return self._executor
