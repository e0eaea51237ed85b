"""Writes for `LessonStore`: storing prepared sources, (un)indexing lessons, removing sources
and files that are gone, and reindexing vectors for a new model.

Each source is replaced in one transaction holding the store's write lock
(`LessonStore._write`), so concurrent readers see either its old or its new lessons.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.engine import SQLConnection
from kb.errors import IngestError, InvalidQueryError
from kb.ingest import Prepared, embed_rows, json_text
from kb.records import SourceOutcome

if TYPE_CHECKING:
    from kb.store import LessonStore


def store_batch(store: LessonStore, batch: list[Prepared]) -> list[SourceOutcome]:
    """Apply curation to the batch's rows, embed them together, then write each source in its
    own transaction; a source that fails is reported and the others are still written."""
    if not batch:
        return []
    store.curation.apply_to_rows([row for prepared in batch for row in prepared.rows])
    vectors: dict[str, list[bytes]] = {}
    if store.embedder is not None:
        vectors = embed_rows(
            store, [row for prepared in batch for row in prepared.rows if row["status"] == "active"]
        )
    outcomes = []
    for prepared in batch:
        try:
            status = write_source(store, prepared, vectors)
        except IngestError as error:
            outcomes.append(SourceOutcome(prepared.display, "failed", error=str(error)))
            continue
        outcomes.append(SourceOutcome(prepared.display, status, lessons=len(prepared.rows)))
    return outcomes


def write_source(store: LessonStore, prepared: Prepared, vectors: dict[str, list[bytes]]) -> str:
    """Replace one source's lessons in a single transaction; returns added/updated."""
    model = store.embedder.name if store.embedder is not None else None
    with store._write() as conn:
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
        existed = delete_source_lessons(store, conn, prepared.uri, keep_added=True)
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
                json_text(prepared.parsed.metadata),
                store._now(),
            ),
        )
        if model is not None and vectors and store._meta("embed_model") is None:
            store._set_meta(conn, "embed_model", model)
        pks = store.engine.reserve_pks(conn, len(prepared.rows))
        # Nothing below reads a result back: PostgreSQL receives the whole source in one
        # pipeline instead of waiting for each statement's answer.
        with store.engine.pipeline(conn):
            for pk, row in zip(pks, prepared.rows, strict=True):
                insert_lesson(store, conn, row, vectors.get(row["embed_hash"]), model, pk=pk)
        store.actions.record_from_lessons(conn, prepared.rows, prepared.uri)
    return "updated" if existed else "added"


def insert_lesson(
    store: LessonStore,
    conn: SQLConnection,
    row: dict[str, Any],
    chunks: list[bytes] | None,
    model: str | None,
    *,
    pk: int | None = None,
) -> None:
    """Store a lesson row (under `pk`, one of `engine.reserve_pks`, or a new one) and index it."""
    if pk is None:
        (pk,) = store.engine.reserve_pks(conn, 1)
    conn.execute(
        "INSERT INTO lessons (pk, id, source_uri, position, title, text, kind, project, tags,"
        " date, source, section, votes, url, metadata, embed_hash, ingested_at, status,"
        " added_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            pk,
            row["id"],
            row["source_uri"],
            row["position"],
            row["title"],
            row["text"],
            row["kind"],
            row["project"],
            json_text(row["tags"]),
            row["date"],
            row["source"],
            row["section"],
            row["votes"],
            row["url"],
            json_text(row["metadata"]),
            row["embed_hash"],
            row["ingested_at"],
            row.get("status", "active"),
            row.get("added_by"),
        ),
    )
    index_lesson(store, conn, pk, row, chunks, model)


def index_lesson(
    store: LessonStore,
    conn: SQLConnection,
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
    store.keywords.index(pk, row["title"], row["text"])
    if chunks and model is not None:
        conn.executemany(
            "INSERT INTO chunks (lesson_pk, seq, model, vector) VALUES (?, ?, ?, ?)",
            [(pk, seq, model, blob) for seq, blob in enumerate(chunks)],
        )


def unindex_lessons(store: LessonStore, conn: SQLConnection, pks: Sequence[int]) -> None:
    """Drop the lessons' keyword index rows, tags and vectors (their rows stay)."""
    store.keywords.unindex(pks)
    for start in range(0, len(pks), 500):
        part = list(pks[start : start + 500])
        marks = ",".join("?" * len(part))
        conn.execute(f"DELETE FROM lesson_tags WHERE lesson_pk IN ({marks})", part)
        conn.execute(f"DELETE FROM chunks WHERE lesson_pk IN ({marks})", part)


def delete_source_lessons(
    store: LessonStore, conn: SQLConnection, uri: str, *, keep_added: bool
) -> bool:
    """Delete a source's ingested lessons (and, unless `keep_added`, those added on the web)."""
    added = " AND added_by IS NULL" if keep_added else ""
    pks = [
        pk for (pk,) in conn.execute(f"SELECT pk FROM lessons WHERE source_uri = ?{added}", (uri,))
    ]
    unindex_lessons(store, conn, pks)
    conn.execute(f"DELETE FROM lessons WHERE source_uri = ?{added}", (uri,))
    existed = conn.execute("SELECT 1 FROM sources WHERE uri = ?", (uri,)).fetchone()
    return existed is not None


def remove_source(store: LessonStore, uri: str) -> int:
    """Delete a source and its lessons; returns how many lessons went."""
    with store._write() as conn:
        count = conn.execute(
            "SELECT count(*) FROM lessons WHERE source_uri = ?", (uri,)
        ).fetchone()[0]
        delete_source_lessons(store, conn, uri, keep_added=False)
        conn.execute("DELETE FROM sources WHERE uri = ?", (uri,))
    return int(count)


def prune_missing_files(store: LessonStore) -> tuple[int, int]:
    """Remove the lessons of file sources whose file is gone: (sources, lessons) removed."""
    with store.db.read() as conn:
        uris = [uri for (uri,) in conn.execute("SELECT uri FROM sources WHERE origin = 'file'")]
    uris = [uri for uri in uris if not Path(uri).exists()]
    removed = sum(store.remove_source(uri) for uri in uris)
    return len(uris), removed


# ------------------------------------------------------------------ reindex


def reindex(
    store: LessonStore, *, batch_size: int = 256, on_progress: Callable[[int], None] | None = None
) -> int:
    """Embed every lesson that lacks vectors from the current model; returns how many.

    Vectors of other models are dropped at the end, and the store then records the model.
    Safe to interrupt and run again: finished batches are kept.
    """
    if store.embedder is None:
        raise InvalidQueryError("reindex needs an embedding model")
    model = store.embedder.name
    with store.db.read() as conn:
        todo = conn.execute(
            "SELECT pk, title, text, embed_hash FROM lessons WHERE status = 'active'"
            " AND pk NOT IN (SELECT DISTINCT lesson_pk FROM chunks WHERE model = ?)"
            " ORDER BY pk",
            (model,),
        ).fetchall()
    done = 0
    for start in range(0, len(todo), batch_size):
        part = todo[start : start + batch_size]
        rows = [{"title": t, "text": x, "embed_hash": h} for _, t, x, h in part]
        vectors = embed_rows(store, rows)
        with store._write() as conn, store.engine.pipeline(conn):
            for pk, _, _, embed_hash in part:
                conn.execute("DELETE FROM chunks WHERE lesson_pk = ?", (pk,))
                conn.executemany(
                    "INSERT INTO chunks (lesson_pk, seq, model, vector) VALUES (?, ?, ?, ?)",
                    [(pk, seq, model, blob) for seq, blob in enumerate(vectors[embed_hash])],
                )
        done += len(part)
        if on_progress is not None:
            on_progress(len(part))
    with store._write() as conn:
        conn.execute("DELETE FROM chunks WHERE model != ?", (model,))
        store._set_meta(conn, "embed_model", model)
    return done
