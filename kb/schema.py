"""The store's schema as numbered sqlite-utils migrations; never edit one that has shipped."""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from kb.database import run_script

MIGRATIONS = Migrations("hindsight_kb")


@MIGRATIONS(name="m001_initial")
def m001_initial(db: Database) -> None:
    run_script(
        db,
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta (key, value) VALUES ('generation', '0');

        CREATE TABLE sources (
            uri TEXT PRIMARY KEY,
            origin TEXT NOT NULL,            -- 'file' (prunable) or 'external'
            format TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            title TEXT NOT NULL,
            lesson_count INTEGER NOT NULL,
            metadata TEXT NOT NULL,          -- JSON object
            ingested_at TEXT NOT NULL
        );

        CREATE TABLE lessons (
            pk INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            source_uri TEXT NOT NULL REFERENCES sources(uri),
            position INTEGER NOT NULL,
            title TEXT NOT NULL,
            text TEXT NOT NULL,
            kind TEXT NOT NULL,
            project TEXT,
            tags TEXT NOT NULL,              -- JSON array
            date TEXT,                       -- YYYY-MM-DD
            source TEXT NOT NULL,            -- what to show: the path, URL or given source
            section TEXT NOT NULL,
            votes INTEGER NOT NULL,
            url TEXT,
            metadata TEXT NOT NULL,          -- JSON object
            embed_hash TEXT NOT NULL,        -- hash of the embedded text: reuse vectors
            ingested_at TEXT NOT NULL
        );
        CREATE INDEX lessons_source ON lessons(source_uri);
        CREATE INDEX lessons_project ON lessons(project COLLATE NOCASE);
        CREATE INDEX lessons_kind ON lessons(kind);
        CREATE INDEX lessons_date ON lessons(date);
        CREATE INDEX lessons_embed_hash ON lessons(embed_hash);

        CREATE TABLE lesson_tags (
            lesson_pk INTEGER NOT NULL REFERENCES lessons(pk),
            tag TEXT NOT NULL                -- lower-cased
        );
        CREATE INDEX lesson_tags_tag ON lesson_tags(tag, lesson_pk);
        CREATE INDEX lesson_tags_lesson ON lesson_tags(lesson_pk);

        -- One row per model-sized chunk of a lesson; a lesson scores by its best chunk.
        CREATE TABLE chunks (
            lesson_pk INTEGER NOT NULL REFERENCES lessons(pk),
            seq INTEGER NOT NULL,
            model TEXT NOT NULL,
            vector BLOB NOT NULL,            -- little-endian float32, unit length
            PRIMARY KEY (lesson_pk, seq)
        ) WITHOUT ROWID;

        -- cjk holds character bigrams of Chinese/Japanese/Korean runs (see kb.text).
        CREATE VIRTUAL TABLE lessons_fts USING fts5(
            title, text, cjk, tokenize = 'porter unicode61 remove_diacritics 2'
        );
        """,
    )


@MIGRATIONS(name="m002_source_index")
def m002_source_index(db: Database) -> None:
    """The source page lists a source's lessons by the name it shows."""
    db.execute("CREATE INDEX lessons_display_source ON lessons(source, source_uri, position)")
