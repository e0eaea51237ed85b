"""Ingest for `LessonStore`: finding and reading files, parsing them into lesson rows, and
embedding those rows (reusing any vectors the store already has for the same text).

Embeddings are computed here, outside transactions; `kb.writes` stores the prepared sources.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.chunking import embedding_inputs
from kb.embedding import vector_to_blob
from kb.errors import IngestError, InvalidQueryError
from kb.readers import EXTENSIONS, FORMATS, ParsedSource, detect_format, read_bytes, read_text
from kb.records import IngestReport, LessonDraft, SourceOutcome
from kb.text import without_nul

if TYPE_CHECKING:
    from kb.store import LessonStore

# Retrospectives are kilobytes; a Parabol export of 20,000 reflections is about 4 MiB. A file
# costs ~16 times its size in memory while parsed and seconds per 100 KB to embed, so larger
# files are refused by size, before they are read.
MAX_FILE_BYTES = 4 * 1024 * 1024
# A lesson's id, project, kind, source and each tag: up to 800 bytes of UTF-8, so that with the
# other columns of its index an entry stays under PostgreSQL's 2,704-byte maximum.
MAX_NAME_CHARS = 200
_EMBED_BATCH_SOURCES = 64


@dataclass
class Prepared:
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


def json_text(value: Any) -> str:
    """A value as canonical JSON text (sorted keys, UTF-8 kept): how rows store lists and
    dicts, and what content hashes are taken of."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def ingest_paths(
    store: LessonStore,
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
    store._check_model()
    report = IngestReport()
    files: list[tuple[str, Path]] = []
    for given in paths:
        found, error = collect(Path(given), format)
        files.extend(found)
        if error is not None:
            report.outcomes.append(error)
    with store.db.read() as conn:
        known = {
            uri: (content_hash, count)
            for uri, content_hash, count in conn.execute(
                "SELECT uri, content_hash, lesson_count FROM sources"
            )
        }
    for start in range(0, len(files), _EMBED_BATCH_SOURCES):
        batch: list[Prepared] = []
        for display, path in files[start : start + _EMBED_BATCH_SOURCES]:
            outcome, prepared = prepare_file(
                store, display, path, format, project, known, max_file_bytes
            )
            if outcome is not None:
                report.outcomes.append(outcome)
            if prepared is not None:
                batch.append(prepared)
        report.outcomes.extend(store._store_batch(batch))
        if on_progress is not None:
            on_progress(len(files[start : start + _EMBED_BATCH_SOURCES]))
    if prune:
        report.pruned_sources, report.pruned_lessons = store.prune_missing_files()
    return report


def collect(path: Path, format: str) -> tuple[list[tuple[str, Path]], SourceOutcome | None]:
    """The files to ingest under `path` (itself, or a folder's files of `format`, hidden ones
    left out), or the outcome saying it does not exist."""
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


def prepare_file(
    store: LessonStore,
    display: str,
    path: Path,
    format: str,
    project: str | None,
    known: dict[str, tuple[str, int]],
    max_file_bytes: int,
) -> tuple[SourceOutcome | None, Prepared | None]:
    """One file read and parsed, or its outcome when it is unchanged or fails (never raises
    for a bad file: one failing file must not stop the others)."""
    uri = str(path.resolve())
    try:
        data = read_at_most(display, path, max_file_bytes)
        fmt = detect_format(display) if format == "auto" else format
        content_hash = _sha256(fmt, project or "", data)
        if uri in known and known[uri][0] == content_hash:
            return SourceOutcome(display, "unchanged", lessons=known[uri][1]), None
        parsed = read_bytes(display, data, fmt)
        return None, prepare(store, uri, uri, "file", fmt, content_hash, parsed, project)
    except IngestError as error:
        return SourceOutcome(display, "failed", error=str(error)), None
    except OSError as error:
        return SourceOutcome(display, "failed", error=f"{display}: {error.strerror}"), None


def ingest_source(
    store: LessonStore,
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

    store._check_model()
    overrides: dict[str, Any] = {}
    if title:
        overrides["title"] = title
    if project:
        overrides["project"] = project
    if date:
        overrides["date"] = normalise_date(date, uri)
    if url:
        overrides["url"] = url
    content_hash = _sha256(format, json_text([title, project, list(tags), str(date), url]), text)
    with store.db.read() as conn:
        row = conn.execute(
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
    prepared = prepare(store, uri, url or uri, "external", format, content_hash, parsed, None)
    (outcome,) = store._store_batch([prepared])
    if outcome.status == "failed":
        raise IngestError(uri, outcome.error or "could not be stored")
    return outcome


def prepare(
    store: LessonStore,
    uri: str,
    display: str,
    origin: str,
    fmt: str,
    content_hash: str,
    parsed: ParsedSource,
    default_project: str | None,
) -> Prepared:
    """A parsed source's lesson rows, ready to embed and write."""
    now = store._now()
    rows: list[dict[str, Any]] = []
    occurrences: dict[tuple[str, str], int] = {}
    # Files and Jira may hold NUL characters, which no stored text may (kb.text.NUL): they are
    # read as U+FFFD, here where every source's texts pass, so one stray byte never loses a
    # retrospective and both engines store the same text.
    parsed = ParsedSource(
        [without_nul(draft) for draft in parsed.lessons],
        without_nul(parsed.title),
        without_nul(parsed.metadata),
    )
    for position, draft in enumerate(parsed.lessons):
        check_names(display, draft)
        key = (draft.kind, draft.text)
        occurrences[key] = occurrences.get(key, 0) + 1
        rows.append(lesson_row(uri, display, draft, position, occurrences[key], now))
        if rows[-1]["project"] is None:
            rows[-1]["project"] = default_project
    return Prepared(uri, display, origin, fmt, content_hash, parsed, rows)


def check_names(display: str, draft: LessonDraft) -> None:
    """`IngestError` (naming the field and the line) when a name the store indexes is longer
    than MAX_NAME_CHARS: PostgreSQL refuses an index entry past 2,704 bytes (SQLite took it),
    which aborted the whole run there. Titles and texts are not indexed this way: no limit."""
    names = {
        "id": [draft.given_id],
        "project": [draft.project],
        "kind": [draft.kind],
        "source": [draft.origin],
        "tag": list(draft.tags),
    }
    for field, values in names.items():
        for value in values:
            if value is not None and len(value) > MAX_NAME_CHARS:
                raise IngestError(
                    display,
                    f"the lesson's {field} is {len(value):,} characters ({value[:20]!r}...);"
                    f" at most {MAX_NAME_CHARS} are allowed",
                    line=draft.line,
                )


def lesson_row(
    uri: str, display: str, draft: LessonDraft, position: int, occurrence: int, now: str
) -> dict[str, Any]:
    """The row of one lesson; its id is stable across re-ingests of the same text."""
    lesson_id = draft.given_id or ("L" + _sha256(uri, draft.kind, draft.text, str(occurrence))[:15])
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


def embed_rows(store: LessonStore, rows: list[dict[str, Any]]) -> dict[str, list[bytes]]:
    """Chunk vectors for each distinct embed_hash, reusing any the store already has."""
    assert store.embedder is not None
    model = store.embedder.name
    wanted = {row["embed_hash"]: row for row in rows}
    vectors: dict[str, list[bytes]] = {}
    hashes = list(wanted)
    with store.db.read() as conn:
        for start in range(0, len(hashes), 500):
            part = hashes[start : start + 500]
            marks = ",".join("?" * len(part))
            for embed_hash, blob in conn.execute(
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
                row["title"], row["text"], store.embedder.count_tokens, store.embedder.max_tokens
            ) or [row["text"]]:
                inputs.append(chunk)
                owners.append(embed_hash)
        embedded = store.embedder.embed(inputs)
        for owner, vector in zip(owners, embedded, strict=True):
            vectors.setdefault(owner, []).append(vector_to_blob(vector))
    return vectors


def read_at_most(display: str, path: Path, limit: int) -> bytes:
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
