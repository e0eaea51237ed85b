"""`LessonStore`: lessons in SQLite (FTS5 + float32 vectors) with hybrid search.

Writes happen in `BEGIN IMMEDIATE` transactions, one per source, so a source's lessons are
replaced atomically, concurrent readers (WAL) see either the old or the new set, and two
ingests at once simply queue on the write lock. Embeddings are computed outside transactions.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kb.chunking import embedding_inputs
from kb.clock import SYSTEM_CLOCK, Clock
from kb.database import StoreConnection
from kb.embedding import (
    Embedder,
    related_similarity,
    torch_threads,
    vector_parts,
    vector_to_blob,
)
from kb.errors import IngestError, InvalidQueryError, LessonNotFoundError, ModelMismatchError
from kb.readers import EXTENSIONS, FORMATS, ParsedSource, detect_format, read_bytes, read_text
from kb.records import (
    SORTS,
    IngestReport,
    Lesson,
    LessonDraft,
    LessonPage,
    RetrospectiveSummary,
    SearchHit,
    SearchPage,
    SourceOutcome,
    StoreStats,
    retrospective_id,
)
from kb.schema import MIGRATIONS
from kb.search import (
    SearchSettings,
    check_query_length,
    found_by,
    fuse,
    headline,
    keyword_query,
    order_by_evidence,
    sort_hits,
    weights_for,
)
from kb.snippets import make_snippet
from kb.text import cjk_index_text
from kb.vectors import VectorMatrix

if TYPE_CHECKING:
    from kb.actions import ActionItems
    from kb.curation import LessonCuration

MODES = ("hybrid", "keyword", "semantic")
# Retrospectives are kilobytes; a Parabol export of 20,000 reflections is about 4 MiB. A file
# costs ~16 times its size in memory while parsed and seconds per 100 KB to embed, so larger
# files are refused by size, before they are read.
MAX_FILE_BYTES = 4 * 1024 * 1024
_EMBED_BATCH_SOURCES = 64


@dataclass
class _Prepared:
    """A parsed source ready to be written: lesson rows and the texts to embed."""

    uri: str
    display: str
    origin: str
    format: str
    content_hash: str
    parsed: ParsedSource
    rows: list[dict[str, Any]]
    chunks: dict[str, list[bytes]] | None = None  # embed_hash -> chunk vectors


def _sha256(*parts: str | bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\0")
    return digest.hexdigest()


def embed_hash(title: str, text: str) -> str:
    """The hash of what a lesson's vectors embed: equal hashes share vectors."""
    return _sha256(title, text)[:32]


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


class LessonStore:
    """A knowledge base of lessons in one SQLite file (or ":memory:").

    `embedder` may be None for a keyword-only store (ingest stores no vectors; `reindex` with an
    embedder adds them later).
    """

    def __init__(
        self,
        path: str | Path,
        embedder: Embedder | None = None,
        *,
        clock: Clock | None = None,
        settings: SearchSettings | None = None,
    ) -> None:
        self.path = str(path)
        self.embedder = embedder
        self.clock = clock or SYSTEM_CLOCK
        self.settings = settings or SearchSettings()
        # The storage convention (docs/storage.md): one connection shared by threads, one lock.
        self._db = StoreConnection(self.path, timeout=60)
        self.conn = self._db.conn
        self._lock = self._db.lock
        self._matrix: VectorMatrix | None = None
        self._term_counts = _TermCounts()
        self._retrospective_uris: tuple[str, dict[str, str]] = ("", {})  # generation, id -> uri
        self._executor: ThreadPoolExecutor | None = None
        self._db.migrate(MIGRATIONS)

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
        self._db.close()

    def __enter__(self) -> LessonStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ transactions

    @contextmanager
    def _write(self, *, bump: bool = True) -> Iterator[sqlite3.Connection]:
        """One write transaction; it takes the database's write lock up front (no deadlock)."""
        with self._db.write():
            yield self.conn
            if bump:
                self.conn.execute(
                    "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'"
                )

    def _meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _now(self) -> str:
        return self.clock.now().astimezone(dt.UTC).isoformat(timespec="seconds")

    # ------------------------------------------------------------------ model checks

    @property
    def stored_model(self) -> str | None:
        """The model the store's vectors were made with (None before the first vector)."""
        with self._lock:
            return self._meta("embed_model")

    def _check_model(self) -> None:
        if self.embedder is None:
            return
        stored = self.stored_model
        if stored is not None and stored != self.embedder.name:
            raise ModelMismatchError(stored, self.embedder.name)

    # ------------------------------------------------------------------ ingest

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
        if format != "auto" and format not in FORMATS:
            raise InvalidQueryError(f"unknown format {format!r}; use auto or one of {FORMATS}")
        self._check_model()
        report = IngestReport()
        files: list[tuple[str, Path]] = []
        for given in paths:
            found, error = self._collect(Path(given), format)
            files.extend(found)
            if error is not None:
                report.outcomes.append(error)
        with self._lock:
            known = {
                uri: (content_hash, count)
                for uri, content_hash, count in self.conn.execute(
                    "SELECT uri, content_hash, lesson_count FROM sources"
                )
            }
        for start in range(0, len(files), _EMBED_BATCH_SOURCES):
            batch: list[_Prepared] = []
            for display, path in files[start : start + _EMBED_BATCH_SOURCES]:
                outcome, prepared = self._prepare_file(
                    display, path, format, project, known, max_file_bytes
                )
                if outcome is not None:
                    report.outcomes.append(outcome)
                if prepared is not None:
                    batch.append(prepared)
            report.outcomes.extend(self._store_batch(batch))
            if on_progress is not None:
                on_progress(len(files[start : start + _EMBED_BATCH_SOURCES]))
        if prune:
            report.pruned_sources, report.pruned_lessons = self.prune_missing_files()
        return report

    @staticmethod
    def _collect(path: Path, format: str) -> tuple[list[tuple[str, Path]], SourceOutcome | None]:
        if path.is_file():
            return [(str(path), path)], None
        if not path.is_dir():
            return [], SourceOutcome(str(path), "failed", error=f"{path}: no such file or folder")
        wanted = {ext for ext, fmt in EXTENSIONS.items() if format in ("auto", fmt)}
        found = sorted(
            p
            for p in path.rglob("*")
            if p.is_file()
            and p.suffix.lower() in wanted
            and not any(part.startswith(".") for part in p.relative_to(path).parts)
        )
        return [(str(p), p) for p in found], None

    def _prepare_file(
        self,
        display: str,
        path: Path,
        format: str,
        project: str | None,
        known: dict[str, tuple[str, int]],
        max_file_bytes: int,
    ) -> tuple[SourceOutcome | None, _Prepared | None]:
        uri = str(path.resolve())
        try:
            data = _read_at_most(display, path, max_file_bytes)
            fmt = detect_format(display) if format == "auto" else format
            content_hash = _sha256(fmt, project or "", data)
            if uri in known and known[uri][0] == content_hash:
                return SourceOutcome(display, "unchanged", lessons=known[uri][1]), None
            parsed = read_bytes(display, data, fmt)
            return None, self._prepare(uri, uri, "file", fmt, content_hash, parsed, project)
        except IngestError as error:
            return SourceOutcome(display, "failed", error=str(error)), None
        except OSError as error:
            return SourceOutcome(display, "failed", error=f"{display}: {error.strerror}"), None

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
        size = len(text.encode("utf-8", "replace")) if len(text) * 4 > MAX_FILE_BYTES else 0
        if size > MAX_FILE_BYTES:
            raise IngestError(
                uri, f"the source is {size:,} bytes, over the limit of {MAX_FILE_BYTES:,} bytes"
            )
        from kb.readers.common import normalise_date

        self._check_model()
        overrides: dict[str, Any] = {}
        if title:
            overrides["title"] = title
        if project:
            overrides["project"] = project
        if date:
            overrides["date"] = normalise_date(date, uri)
        if url:
            overrides["url"] = url
        content_hash = _sha256(format, _json([title, project, list(tags), str(date), url]), text)
        with self._lock:
            row = self.conn.execute(
                "SELECT content_hash, lesson_count FROM sources WHERE uri = ?", (uri,)
            ).fetchone()
        if row is not None and row[0] == content_hash:
            return SourceOutcome(uri, "unchanged", lessons=row[1])
        parsed = read_text(uri, text, format)
        parsed.lessons = [
            replace(lesson, **overrides, tags=tuple(dict.fromkeys((*lesson.tags, *tags))))
            for lesson in parsed.lessons
        ]
        if title:
            parsed.title = title
        prepared = self._prepare(uri, url or uri, "external", format, content_hash, parsed, None)
        (outcome,) = self._store_batch([prepared])
        if outcome.status == "failed":
            raise IngestError(uri, outcome.error or "could not be stored")
        return outcome

    def _prepare(
        self,
        uri: str,
        display: str,
        origin: str,
        fmt: str,
        content_hash: str,
        parsed: ParsedSource,
        default_project: str | None,
    ) -> _Prepared:
        now = self._now()
        rows: list[dict[str, Any]] = []
        occurrences: dict[tuple[str, str], int] = {}
        for position, draft in enumerate(parsed.lessons):
            key = (draft.kind, draft.text)
            occurrences[key] = occurrences.get(key, 0) + 1
            rows.append(self._row(uri, display, draft, position, occurrences[key], now))
            if rows[-1]["project"] is None:
                rows[-1]["project"] = default_project
        return _Prepared(uri, display, origin, fmt, content_hash, parsed, rows)

    @staticmethod
    def _row(
        uri: str, display: str, draft: LessonDraft, position: int, occurrence: int, now: str
    ) -> dict[str, Any]:
        lesson_id = draft.given_id or (
            "L" + _sha256(uri, draft.kind, draft.text, str(occurrence))[:15]
        )
        return {
            "id": lesson_id,
            "source_uri": uri,
            "position": position,
            "title": draft.title,
            "text": draft.text,
            "kind": draft.kind,
            "project": draft.project,
            "tags": list(draft.tags),
            "date": draft.date,
            "source": draft.origin or display,
            "section": draft.section,
            "votes": draft.votes,
            "url": draft.url,
            "metadata": draft.metadata,
            "embed_hash": embed_hash(draft.title, draft.text),
            "ingested_at": now,
            "line": draft.line,
        }

    def _embed_rows(self, rows: list[dict[str, Any]]) -> dict[str, list[bytes]]:
        """Chunk vectors for each distinct embed_hash, reusing any the store already has."""
        assert self.embedder is not None
        model = self.embedder.name
        wanted = {row["embed_hash"]: row for row in rows}
        vectors: dict[str, list[bytes]] = {}
        hashes = list(wanted)
        with self._lock:
            for start in range(0, len(hashes), 500):
                part = hashes[start : start + 500]
                marks = ",".join("?" * len(part))
                for embed_hash, blob in self.conn.execute(
                    f"SELECT l.embed_hash, c.vector FROM lessons l "
                    f"JOIN chunks c ON c.lesson_pk = l.pk "
                    f"WHERE l.embed_hash IN ({marks}) AND c.model = ? "
                    f"AND l.pk = (SELECT min(pk) FROM lessons WHERE embed_hash = l.embed_hash) "
                    f"ORDER BY l.embed_hash, c.seq",
                    [*part, model],
                ):
                    vectors.setdefault(embed_hash, []).append(blob)
        missing = [h for h in hashes if h not in vectors]
        if missing:
            inputs: list[str] = []
            owners: list[str] = []
            for embed_hash in missing:
                row = wanted[embed_hash]
                for chunk in embedding_inputs(
                    row["title"], row["text"], self.embedder.count_tokens, self.embedder.max_tokens
                ) or [row["text"]]:
                    inputs.append(chunk)
                    owners.append(embed_hash)
            embedded = self.embedder.embed(inputs)
            for owner, vector in zip(owners, embedded, strict=True):
                vectors.setdefault(owner, []).append(vector_to_blob(vector))
        return vectors

    def _store_batch(self, batch: list[_Prepared]) -> list[SourceOutcome]:
        if not batch:
            return []
        with self._lock:
            self.curation.apply_to_rows([row for prepared in batch for row in prepared.rows])
        vectors: dict[str, list[bytes]] = {}
        if self.embedder is not None:
            vectors = self._embed_rows(
                [row for prepared in batch for row in prepared.rows if row["status"] == "active"]
            )
        outcomes = []
        for prepared in batch:
            try:
                status = self._write_source(prepared, vectors)
            except IngestError as error:
                outcomes.append(SourceOutcome(prepared.display, "failed", error=str(error)))
                continue
            outcomes.append(SourceOutcome(prepared.display, status, lessons=len(prepared.rows)))
        return outcomes

    def _write_source(self, prepared: _Prepared, vectors: dict[str, list[bytes]]) -> str:
        """Replace one source's lessons in a single transaction; returns added/updated."""
        model = self.embedder.name if self.embedder is not None else None
        with self._write() as conn:
            given = [row["id"] for row in prepared.rows]
            for start in range(0, len(given), 500):
                part = given[start : start + 500]
                clash = conn.execute(
                    f"SELECT id, source_uri FROM lessons WHERE id IN ({','.join('?' * len(part))})"
                    " AND source_uri != ? LIMIT 1",
                    [*part, prepared.uri],
                ).fetchone()
                if clash is not None:
                    line = next(r["line"] for r in prepared.rows if r["id"] == clash[0])
                    raise IngestError(
                        prepared.display,
                        f"lesson id {clash[0]!r} already belongs to {clash[1]}; give it "
                        "another id or remove it from one of the sources",
                        line=line,
                    )
            existed = self._delete_source_lessons(conn, prepared.uri, keep_added=True)
            added = conn.execute(
                "SELECT count(*) FROM lessons WHERE source_uri = ?", (prepared.uri,)
            ).fetchone()[0]
            conn.execute(
                "INSERT INTO sources (uri, origin, format, content_hash, title, lesson_count,"
                " metadata, ingested_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(uri) DO UPDATE SET origin = excluded.origin,"
                " format = excluded.format, content_hash = excluded.content_hash,"
                " title = excluded.title, lesson_count = excluded.lesson_count,"
                " metadata = excluded.metadata, ingested_at = excluded.ingested_at",
                (
                    prepared.uri,
                    prepared.origin,
                    prepared.format,
                    prepared.content_hash,
                    prepared.parsed.title,
                    len(prepared.rows) + added,
                    _json(prepared.parsed.metadata),
                    self._now(),
                ),
            )
            if model is not None and vectors and self._meta("embed_model") is None:
                conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('embed_model', ?)", (model,)
                )
            for row in prepared.rows:
                self._insert_lesson(conn, row, vectors.get(row["embed_hash"]), model)
            self.actions.record_from_lessons(conn, prepared.rows, prepared.uri)
        return "updated" if existed else "added"

    @staticmethod
    def _insert_lesson(
        conn: sqlite3.Connection, row: dict[str, Any], chunks: list[bytes] | None, model: str | None
    ) -> None:
        cursor = conn.execute(
            "INSERT INTO lessons (id, source_uri, position, title, text, kind, project, tags,"
            " date, source, section, votes, url, metadata, embed_hash, ingested_at, status,"
            " added_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row["id"],
                row["source_uri"],
                row["position"],
                row["title"],
                row["text"],
                row["kind"],
                row["project"],
                _json(row["tags"]),
                row["date"],
                row["source"],
                row["section"],
                row["votes"],
                row["url"],
                _json(row["metadata"]),
                row["embed_hash"],
                row["ingested_at"],
                row.get("status", "active"),
                row.get("added_by"),
            ),
        )
        pk = int(cursor.lastrowid or 0)
        LessonStore._index_lesson(conn, pk, row, chunks, model)

    @staticmethod
    def _index_lesson(
        conn: sqlite3.Connection,
        pk: int,
        row: dict[str, Any],
        chunks: list[bytes] | None,
        model: str | None,
    ) -> None:
        """Make a stored lesson findable: tags always; full text and vectors while active.

        An archived or merged lesson keeps its row (and its page) but leaves the keyword index
        and the vectors, so search and suggestions never return it.
        """
        conn.executemany(
            "INSERT INTO lesson_tags (lesson_pk, tag) VALUES (?, ?)",
            [(pk, tag.lower()) for tag in dict.fromkeys(row["tags"])],
        )
        if row.get("status", "active") != "active":
            return
        conn.execute(
            "INSERT INTO lessons_fts (rowid, title, text, cjk) VALUES (?, ?, ?, ?)",
            (pk, row["title"], row["text"], cjk_index_text(row["title"], row["text"])),
        )
        if chunks and model is not None:
            conn.executemany(
                "INSERT INTO chunks (lesson_pk, seq, model, vector) VALUES (?, ?, ?, ?)",
                [(pk, seq, model, blob) for seq, blob in enumerate(chunks)],
            )

    @staticmethod
    def _unindex_lessons(conn: sqlite3.Connection, pks: Sequence[int]) -> None:
        """Drop the lessons' keyword index rows, tags and vectors (their rows stay)."""
        for start in range(0, len(pks), 500):
            part = list(pks[start : start + 500])
            marks = ",".join("?" * len(part))
            conn.execute(f"DELETE FROM lessons_fts WHERE rowid IN ({marks})", part)
            conn.execute(f"DELETE FROM lesson_tags WHERE lesson_pk IN ({marks})", part)
            conn.execute(f"DELETE FROM chunks WHERE lesson_pk IN ({marks})", part)

    @staticmethod
    def _delete_source_lessons(conn: sqlite3.Connection, uri: str, *, keep_added: bool) -> bool:
        """Delete a source's ingested lessons (and, unless `keep_added`, those added on the web)."""
        added = " AND added_by IS NULL" if keep_added else ""
        pks = [
            pk
            for (pk,) in conn.execute(f"SELECT pk FROM lessons WHERE source_uri = ?{added}", (uri,))
        ]
        LessonStore._unindex_lessons(conn, pks)
        conn.execute(f"DELETE FROM lessons WHERE source_uri = ?{added}", (uri,))
        existed = conn.execute("SELECT 1 FROM sources WHERE uri = ?", (uri,)).fetchone()
        return existed is not None

    def remove_source(self, uri: str) -> int:
        """Delete a source and its lessons; returns how many lessons went."""
        with self._write() as conn:
            count = conn.execute(
                "SELECT count(*) FROM lessons WHERE source_uri = ?", (uri,)
            ).fetchone()[0]
            self._delete_source_lessons(conn, uri, keep_added=False)
            conn.execute("DELETE FROM sources WHERE uri = ?", (uri,))
        return int(count)

    def prune_missing_files(self) -> tuple[int, int]:
        """Remove the lessons of file sources whose file is gone: (sources, lessons) removed."""
        with self._lock:
            uris = [
                uri
                for (uri,) in self.conn.execute("SELECT uri FROM sources WHERE origin = 'file'")
                if not Path(uri).exists()
            ]
        removed = sum(self.remove_source(uri) for uri in uris)
        return len(uris), removed

    # ------------------------------------------------------------------ reindex

    def reindex(
        self, *, batch_size: int = 256, on_progress: Callable[[int], None] | None = None
    ) -> int:
        """Embed every lesson that lacks vectors from the current model; returns how many.

        Vectors of other models are dropped at the end, and the store then records the model.
        Safe to interrupt and run again: finished batches are kept.
        """
        if self.embedder is None:
            raise InvalidQueryError("reindex needs an embedding model")
        model = self.embedder.name
        with self._lock:
            todo = self.conn.execute(
                "SELECT pk, title, text, embed_hash FROM lessons WHERE status = 'active'"
                " AND pk NOT IN (SELECT DISTINCT lesson_pk FROM chunks WHERE model = ?)"
                " ORDER BY pk",
                (model,),
            ).fetchall()
        done = 0
        for start in range(0, len(todo), batch_size):
            part = todo[start : start + batch_size]
            rows = [{"title": t, "text": x, "embed_hash": h} for _, t, x, h in part]
            vectors = self._embed_rows(rows)
            with self._write() as conn:
                for pk, _, _, embed_hash in part:
                    conn.execute("DELETE FROM chunks WHERE lesson_pk = ?", (pk,))
                    conn.executemany(
                        "INSERT INTO chunks (lesson_pk, seq, model, vector) VALUES (?, ?, ?, ?)",
                        [(pk, seq, model, blob) for seq, blob in enumerate(vectors[embed_hash])],
                    )
            done += len(part)
            if on_progress is not None:
                on_progress(len(part))
        with self._write() as conn:
            conn.execute("DELETE FROM chunks WHERE model != ?", (model,))
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('embed_model', ?)", (model,)
            )
        return done

    # ------------------------------------------------------------------ reading

    def get(self, lesson_id: str) -> Lesson:
        """The lesson with this id; raises LessonNotFoundError."""
        found = self._lessons("WHERE id = ?", (lesson_id,))
        if not found:
            raise LessonNotFoundError(f"no lesson has id {lesson_id!r}; check the id from search")
        return found[0]

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
        if sort not in SORTS:
            raise InvalidQueryError(f"unknown sort {sort!r}; use one of {', '.join(SORTS)}")
        filter_sql, args = _filters(project, tag, kind, since)
        where = "WHERE status = 'active'" + (f" AND pk IN ({filter_sql})" if filter_sql else "")
        order = "votes DESC, " if sort == "votes" else ""
        with self._lock:
            (total,) = self.conn.execute(f"SELECT count(*) FROM lessons {where}", args).fetchone()
        lessons = self._lessons(
            f"{where} ORDER BY {order}date IS NULL, date DESC, source_uri, position "
            "LIMIT ? OFFSET ?",
            (*args, limit, offset),
        )
        return LessonPage(lessons, int(total), offset, limit)

    # ------------------------------------------------------------------ retrospectives

    def retrospectives(
        self, *, project: str | None = None, offset: int = 0, limit: int = 50
    ) -> tuple[list[RetrospectiveSummary], int]:
        """Retrospectives newest first (by their lessons' latest date), a page, and the total.

        `project` keeps those with a lesson of that project (case-insensitive). One grouped
        query over the lessons' source index: its cost grows with the lessons it counts.
        """
        where, args = "", []
        if project:
            where = (
                "WHERE s.uri IN (SELECT source_uri FROM lessons"
                " WHERE project = ? COLLATE NOCASE AND status = 'active')"
            )
            args = [project]
        with self._lock:
            (total,) = self.conn.execute(f"SELECT count(*) FROM sources s {where}", args).fetchone()
        found = self._summaries(where, args, limit=limit, offset=offset)
        return found, int(total)

    def retrospective(self, retro_id: str) -> tuple[RetrospectiveSummary, list[Lesson]]:
        """A retrospective by its public id and its lessons in document order.

        Raises LessonNotFoundError when no ingested source has that id.
        """
        uri = self._retrospective_uri(retro_id)
        found = self._summaries("WHERE s.uri = ?", [uri], limit=1) if uri else []
        if not found:
            raise LessonNotFoundError(
                f"no retrospective has id {retro_id!r}; pick one from the retrospectives list"
            )
        assert uri is not None
        return found[0], self._lessons(
            "WHERE source_uri = ? AND status = 'active' ORDER BY position", (uri,)
        )

    def retrospectives_by_id(self, ids: Iterable[str]) -> dict[str, RetrospectiveSummary]:
        """Summaries of the given retrospectives (unknown ids are left out)."""
        uris = [uri for uri in map(self._retrospective_uri, dict.fromkeys(ids)) if uri]
        if not uris:
            return {}
        marks = ",".join("?" * len(uris))
        summaries = self._summaries(f"WHERE s.uri IN ({marks})", uris, limit=len(uris))
        return {summary.id: summary for summary in summaries}

    def _retrospective_uri(self, retro_id: str) -> str | None:
        """The internal uri of a public retrospective id, from a map rebuilt when the store
        changes (hashing every source uri: ~1 ms per thousand sources)."""
        with self._lock:
            generation = self._meta("generation") or "0"
            if self._retrospective_uris[0] != generation:
                uris = {
                    retrospective_id(uri): uri
                    for (uri,) in self.conn.execute("SELECT uri FROM sources")
                }
                self._retrospective_uris = (generation, uris)
            return self._retrospective_uris[1].get(retro_id)

    def _summaries(
        self, where: str, args: Sequence[Any], *, limit: int, offset: int = 0
    ) -> list[RetrospectiveSummary]:
        with self._lock:
            rows = self.conn.execute(
                "SELECT s.uri, s.title, s.format, s.metadata, s.ingested_at, count(l.pk),"
                " max(l.date), max(l.url), group_concat(DISTINCT l.project)"
                " FROM sources s LEFT JOIN lessons l"
                f" ON l.source_uri = s.uri AND l.status = 'active' {where}"
                " GROUP BY s.uri ORDER BY max(l.date) IS NULL, max(l.date) DESC, s.title"
                " LIMIT ? OFFSET ?",
                [*args, limit, offset],
            ).fetchall()
            uris = [row[0] for row in rows]
            kinds: dict[str, dict[str, int]] = {uri: {} for uri in uris}
            authors: dict[str, list[str]] = {uri: [] for uri in uris}
            for start in range(0, len(uris), 500):
                part = uris[start : start + 500]
                marks = ",".join("?" * len(part))
                for uri, kind, count in self.conn.execute(
                    f"SELECT source_uri, kind, count(*) FROM lessons WHERE source_uri IN ({marks})"
                    " AND status = 'active' GROUP BY source_uri, kind ORDER BY count(*) DESC",
                    part,
                ):
                    kinds[uri][kind] = count
                for uri, author in self.conn.execute(
                    "SELECT DISTINCT source_uri, json_extract(metadata, '$.author') FROM lessons"
                    f" WHERE source_uri IN ({marks}) AND status = 'active'"
                    " AND json_extract(metadata, '$.author')"
                    " IS NOT NULL ORDER BY position",
                    part,
                ):
                    authors[uri].append(str(author))
        actions = self.actions.counts_by_source(uris)
        summaries = []
        for uri, title, fmt, metadata, ingested_at, count, date, url, projects in rows:
            meta = json.loads(metadata)
            participants = _people(meta.get("participants") or meta.get("attendees"))
            summaries.append(
                RetrospectiveSummary(
                    id=retrospective_id(uri),
                    title=title,
                    url=url if url and url.startswith(("https://", "http://")) else None,
                    date=date,
                    projects=tuple(sorted(set((projects or "").split(",")) - {""})),
                    team=_person(meta.get("team")),
                    facilitator=_person(meta.get("facilitator")),
                    author=_person(meta.get("author")),
                    participants=participants or tuple(dict.fromkeys(authors[uri])),
                    lessons=count,
                    kinds=kinds[uri],
                    format=fmt,
                    ingested_at=ingested_at,
                    action_items=actions.get(uri, (0, 0))[0],
                    open_action_items=actions.get(uri, (0, 0))[1],
                )
            )
        return summaries

    def _lessons(self, where: str, args: tuple[Any, ...]) -> list[Lesson]:
        with self._lock:
            cursor = self.conn.execute(f"SELECT * FROM lessons {where}", args)
            names = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
        return [_lesson(dict(zip(names, row, strict=True))) for row in rows]

    def is_empty(self) -> bool:
        with self._lock:
            return not self.conn.execute("SELECT EXISTS (SELECT 1 FROM lessons)").fetchone()[0]

    def stats(self) -> StoreStats:
        with self._lock:
            one = lambda sql, *a: self.conn.execute(sql, a).fetchone()[0]  # noqa: E731
            lessons = one("SELECT count(*) FROM lessons WHERE status = 'active'")
            model = self._meta("embed_model")
            embedded = one(
                "SELECT count(DISTINCT lesson_pk) FROM chunks WHERE model = ?", model or ""
            )
            return StoreStats(
                lessons=lessons,
                sources=one("SELECT count(*) FROM sources"),
                vectors=one("SELECT count(*) FROM chunks"),
                lessons_without_vectors=lessons - embedded,
                model=model,
                by_kind=dict(
                    self.conn.execute(
                        "SELECT kind, count(*) FROM lessons GROUP BY kind ORDER BY 2 DESC"
                    ).fetchall()
                ),
                by_project=dict(
                    self.conn.execute(
                        "SELECT coalesce(project, ''), count(*) FROM lessons "
                        "GROUP BY 1 ORDER BY 2 DESC"
                    ).fetchall()
                ),
            )

    # ------------------------------------------------------------------ search

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
        check_query_length(query, self.settings)
        if mode not in MODES:
            raise InvalidQueryError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
        if limit < 1:
            raise InvalidQueryError(f"limit must be at least 1, not {limit}")
        if mode == "semantic" and self.embedder is None:
            raise InvalidQueryError("semantic search needs an embedding model")
        filter_sql, filter_args = _filters(project, tag, kind, since)
        use_semantic = mode != "keyword" and self.embedder is not None
        depth = max(limit, self.settings.candidates)
        matrix: VectorMatrix | None = None
        allowed: np.ndarray | None = None
        if use_semantic:
            self._check_model()
            with self._lock:
                matrix = self._current_matrix()
                if filter_sql:
                    allowed = np.fromiter(
                        (pk for (pk,) in self.conn.execute(filter_sql, filter_args)),
                        dtype=np.int64,
                    )
        keyword_job: Future[dict[str, list[int]]] | None = None
        if mode != "semantic":
            # FTS5, the model and BLAS all release the GIL: rank keywords in the background
            # while the query embeds and the vector matrix is multiplied.
            keyword_job = self._background().submit(
                self._keyword_rankings, query, depth, filter_sql, filter_args
            )
        semantic: dict[str, list[int]] = {}
        scores: np.ndarray | None = None
        try:
            if matrix is not None:
                query_vector = self._embed_query(query)
                # Beside the keyword ranking one thread is faster (the product is memory-bound
                # and a second thread only contends with SQLite); alone, every thread helps.
                with torch_threads(1 if keyword_job is not None else None):
                    semantic, scores = self._semantic_rankings(matrix, query_vector, depth, allowed)
        finally:
            keyword = keyword_job.result() if keyword_job is not None else {}
        rankings = {**keyword, **semantic}
        fused = fuse(rankings, self.settings, weights=weights_for(query, rankings, self.settings))
        similarity: dict[int, float] = {}
        if matrix is not None and scores is not None:
            similarity = _similarities(matrix, scores, [pk for pk, _ in fused])
            bar = self.related_similarity
            assert bar is not None
            fused, strong = order_by_evidence(fused, similarity, bar)
            if strong_only:
                fused = fused[:strong]
        fused = fused[:limit]
        pks = [pk for pk, _ in fused]
        with self._lock:
            rows = self._rows_by_pk(pks)
        hits = []
        for (pk, score), ranks in zip(fused, found_by(pks, rankings), strict=True):
            row = rows[pk]
            hits.append(
                SearchHit(
                    id=row["id"],
                    title=row["title"],
                    text=row["text"],
                    snippet=make_snippet(
                        row["text"], query, max_terms=self.settings.max_query_terms
                    ),
                    kind=row["kind"],
                    project=row["project"],
                    tags=tuple(json.loads(row["tags"])),
                    date=row["date"],
                    source=row["source"],
                    section=row["section"],
                    votes=row["votes"],
                    url=row["url"],
                    score=score,
                    found_by=ranks,
                    similarity=similarity.get(pk) if matrix is not None else None,
                    retrospective_id=retrospective_id(row["source_uri"]),
                )
            )
        return hits

    def _semantic_rankings(
        self,
        matrix: VectorMatrix,
        query_vector: np.ndarray,
        depth: int,
        allowed: np.ndarray | None,
    ) -> tuple[dict[str, list[int]], np.ndarray]:
        """Each model's ranking (by the name its vector part gives it) and the calibrated
        part's similarity of every lesson."""
        assert self.embedder is not None
        parts = vector_parts(self.embedder)
        all_scores = matrix.similarities(query_vector)
        passing = None if allowed is None else np.isin(matrix.lesson_pks, allowed)
        rankings = {
            part.ranking: _semantic_ranking(matrix, row, depth, passing)
            for part, row in zip(parts, all_scores, strict=True)
        }
        calibrated = next(i for i, part in enumerate(parts) if part.similarity)
        return rankings, all_scores[calibrated]

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

        `options` are `search`'s (mode, filters). The whole result list (up to
        `settings.max_results`) is ranked once, then sorted and cut, so every page of one
        query agrees with the others and the count is the list's true length.
        """
        if sort not in SORTS:
            raise InvalidQueryError(f"unknown sort {sort!r}; use one of {', '.join(SORTS)}")
        deepest = self.settings.max_results
        if not 0 <= offset < deepest:
            raise InvalidQueryError(
                f"results stop at the best {deepest:,}; narrow the query or its filters"
            )
        hits = self.search(query, limit=deepest + 1, **options)
        capped = len(hits) > deepest
        ordered = sort_hits(hits[:deepest], sort)
        return SearchPage(
            ordered[offset : offset + limit], len(ordered), capped, offset, limit, sort
        )

    def _embed_query(self, query: str) -> np.ndarray:
        """Unit vectors of the query's model-sized chunks; a lesson scores by its best pair.

        Max over chunk pairs beat averaging the query's chunks on long queries (GitBugs).
        """
        assert self.embedder is not None
        chunks = embedding_inputs(
            "", query, self.embedder.count_tokens, self.embedder.max_tokens
        ) or [query]
        return self.embedder.embed(chunks[: self.settings.max_query_chunks])

    def _background(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="kb-keyword")
            return self._executor

    def _keyword_rankings(
        self, query: str, depth: int, filter_sql: str, filter_args: list[Any]
    ) -> dict[str, list[int]]:
        """The whole query's bm25 ranking and, for a multi-line query, its headline's."""
        rankings = {"keyword": self._keyword_ranking(query, depth, filter_sql, filter_args)}
        first_line = headline(query)
        if first_line is not None and self.settings.weights.get("headline", 1.0) > 0:
            rankings["headline"] = self._keyword_ranking(first_line, depth, filter_sql, filter_args)
        return rankings

    def _keyword_ranking(
        self, query: str, depth: int, filter_sql: str, filter_args: list[Any]
    ) -> list[int]:
        with self._lock:
            counts = self._term_counts.current(
                self.conn, self._meta("generation") or "0", self.settings
            )
            match = keyword_query(query, self.settings, counts.count, counts.lessons)
            if match is None:
                return []
            weights = ", ".join(str(w) for w in self.settings.column_weights)
            sql = (
                f"SELECT rowid FROM lessons_fts WHERE lessons_fts MATCH ?"
                # "+rowid" keeps the filter away from FTS5's planner: given "rowid IN (...)" it
                # runs the full-text query once per allowed row (seconds at 100k lessons).
                f"{' AND +rowid IN (' + filter_sql + ')' if filter_sql else ''}"
                f" ORDER BY bm25(lessons_fts, {weights}) LIMIT ?"
            )
            return [pk for (pk,) in self.conn.execute(sql, [match, *filter_args, depth])]

    def _current_matrix(self) -> VectorMatrix:
        assert self.embedder is not None
        generation = self._meta("generation") or "0"
        matrix = self._matrix
        if matrix is None or matrix.generation != generation or matrix.model != self.embedder.name:
            widths = tuple(part.dimensions for part in vector_parts(self.embedder))
            matrix = VectorMatrix.load(self.conn, self.embedder.name, generation, widths)
            self._matrix = matrix
        return matrix

    def _rows_by_pk(self, pks: list[int]) -> dict[int, dict[str, Any]]:
        if not pks:
            return {}
        cursor = self.conn.execute(
            f"SELECT * FROM lessons WHERE pk IN ({','.join('?' * len(pks))})", pks
        )
        names = [d[0] for d in cursor.description]
        return {row[0]: dict(zip(names, row, strict=True)) for row in cursor}


def _read_at_most(display: str, path: Path, limit: int) -> bytes:
    """The file's bytes; IngestError when it is over `limit` (told by its size, not read)."""
    size = path.stat().st_size
    if size <= limit:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)  # it may have grown since
        size = max(size, len(data))
    if size > limit:
        raise IngestError(
            display,
            f"the file is {size:,} bytes, over the limit of {limit:,} bytes per file "
            "(HINDSIGHT_INGEST_MAX_FILE_BYTES or --max-file-bytes); split it or raise the limit",
        )
    return data


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


class _TermCounts:
    """How many lessons each query term matches, remembered for one store generation.

    FTS5 counts a term's lessons in well under a millisecond even at 100k lessons, but a long
    query has dozens of terms, and a corpus's vocabulary repeats across queries. Counting stops
    past the largest count that can change `selective_terms`' choice. Use it under the store's
    lock (it shares the store's connection).
    """

    MAX_TERMS = 50_000

    def __init__(self) -> None:
        self._generation: str | None = None
        self._conn: sqlite3.Connection | None = None
        self.lessons = 0
        self._cap = 0
        self._counts: dict[str, int] = {}

    def current(
        self, conn: sqlite3.Connection, generation: str, settings: SearchSettings
    ) -> _TermCounts:
        """Itself, emptied first if the store changed since the counts were taken."""
        if generation != self._generation or len(self._counts) >= self.MAX_TERMS:
            self._generation = generation
            self._conn = conn
            self.lessons = conn.execute("SELECT count(*) FROM lessons").fetchone()[0]
            self._counts = {}
        # A term matching more lessons than this is never added beside a rarer one.
        self._cap = max(settings.max_postings, int(settings.common_term_share * self.lessons)) + 1
        return self

    def count(self, term: str) -> int:
        if term not in self._counts:
            assert self._conn is not None, "call current() first"
            (found,) = self._conn.execute(
                "SELECT count(*) FROM "
                "(SELECT 1 FROM lessons_fts WHERE lessons_fts MATCH ? LIMIT ?)",
                ('"' + term.replace('"', '""') + '"', self._cap),
            ).fetchone()
            self._counts[term] = int(found)
        return self._counts[term]


def _filters(
    project: str | None, tag: str | None, kind: str | None, since: str | dt.date | None
) -> tuple[str, list[Any]]:
    """SQL selecting the pks of lessons that pass the filters ('' when there are none)."""
    clauses: list[str] = []
    args: list[Any] = []
    if project:
        clauses.append("project = ? COLLATE NOCASE")
        args.append(project)
    if kind:
        clauses.append("kind = ?")
        args.append(kind)
    if since:
        try:
            day = since if isinstance(since, dt.date) else dt.date.fromisoformat(str(since))
        except ValueError:
            raise InvalidQueryError(
                f"since {since!r} is not a date; write it as YYYY-MM-DD"
            ) from None
        clauses.append("date >= ?")
        args.append(day.isoformat())
    if tag:
        clauses.append("pk IN (SELECT lesson_pk FROM lesson_tags WHERE tag = ?)")
        args.append(tag.lower())
    if not clauses:
        return "", []
    return "SELECT pk FROM lessons WHERE " + " AND ".join(clauses), args


def _lesson(row: dict[str, Any]) -> Lesson:
    return Lesson(
        id=row["id"],
        title=row["title"],
        text=row["text"],
        kind=row["kind"],
        project=row["project"],
        tags=tuple(json.loads(row["tags"])),
        date=row["date"],
        source=row["source"],
        section=row["section"],
        votes=row["votes"],
        url=row["url"],
        ingested_at=row["ingested_at"],
        metadata=json.loads(row["metadata"]),
        retrospective_id=retrospective_id(row["source_uri"]),
    )


def _person(value: Any) -> str | None:
    """A front matter name (team, facilitator, author) as text; None when empty."""
    if isinstance(value, list | tuple):
        value = ", ".join(str(item) for item in value if item)
    return str(value).strip() or None if value not in (None, "") else None


def _people(value: Any) -> tuple[str, ...]:
    """Front matter participants, written as a YAML list or a comma-separated line."""
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list | tuple):
        return ()
    return tuple(dict.fromkeys(str(item).strip() for item in value if str(item).strip()))
