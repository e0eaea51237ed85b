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


@MIGRATIONS(name="m003_curation")
def m003_curation(db: Database) -> None:
    """Curation on the web: lesson status, web-added lessons, overrides and revision history.

    `lesson_curation` holds what editors changed, keyed by the lesson's stable id, so a
    re-ingest of the same source applies the edit, archive or merge again. `lesson_revisions`
    is the history: who, when, what, before and after (JSON), never updated nor deleted.
    """
    run_script(
        db,
        """
        ALTER TABLE lessons ADD COLUMN status TEXT NOT NULL DEFAULT 'active';
        ALTER TABLE lessons ADD COLUMN added_by TEXT;   -- set for lessons added on the web
        CREATE INDEX lessons_status ON lessons(status) WHERE status != 'active';

        CREATE TABLE lesson_curation (
            lesson_id TEXT PRIMARY KEY,
            fields TEXT NOT NULL DEFAULT '{}',          -- JSON: edited title/text/kind/...
            status TEXT NOT NULL DEFAULT 'active'
                CHECK (status IN ('active', 'archived', 'merged')),
            merged_into TEXT,
            updated_at TEXT NOT NULL,
            updated_by TEXT NOT NULL
        );

        CREATE TABLE lesson_revisions (
            seq INTEGER PRIMARY KEY,
            lesson_id TEXT NOT NULL,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL
                CHECK (action IN ('add', 'edit', 'archive', 'restore', 'merge', 'absorb')),
            before TEXT NOT NULL,                       -- JSON object
            after TEXT NOT NULL,                        -- JSON object
            note TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX lesson_revisions_lesson ON lesson_revisions(lesson_id, seq);
        CREATE TRIGGER lesson_revisions_no_update BEFORE UPDATE ON lesson_revisions
        BEGIN SELECT RAISE(ABORT, 'lesson revisions are append-only'); END;
        CREATE TRIGGER lesson_revisions_no_delete BEFORE DELETE ON lesson_revisions
        BEGIN SELECT RAISE(ABORT, 'lesson revisions are append-only'); END;
        """,
    )


@MIGRATIONS(name="m004_action_items")
def m004_action_items(db: Database) -> None:
    """Action items as records: read from retrospectives at ingest or added on the web.

    `jira_request` is the idempotency key of "Create in Jira", stored before Jira is called
    (the label the issue carries, so a retry finds the issue again); `jira_lease` keeps two
    pushes of one item from calling Jira at once.
    """
    run_script(
        db,
        """
        CREATE TABLE action_items (
            id TEXT PRIMARY KEY,
            text TEXT NOT NULL,
            owner TEXT,
            due TEXT,                                   -- YYYY-MM-DD
            status TEXT NOT NULL DEFAULT 'open'
                CHECK (status IN ('open', 'in_progress', 'done', 'dropped')),
            lesson_id TEXT,                             -- the lesson it came from
            source_uri TEXT,                            -- the retrospective it came from
            project TEXT,
            origin TEXT NOT NULL CHECK (origin IN ('ingest', 'web')),
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            updated_by TEXT NOT NULL,
            jira_request TEXT,
            jira_lease TEXT,
            jira_key TEXT UNIQUE,
            jira_plan TEXT                              -- what report-only mode would create
        );
        CREATE UNIQUE INDEX action_items_lesson ON action_items(lesson_id)
            WHERE origin = 'ingest';
        CREATE INDEX action_items_open ON action_items(status, due);
        CREATE INDEX action_items_project ON action_items(project COLLATE NOCASE);
        """,
    )


@MIGRATIONS(name="m005_lexeme_counts")
def m005_lexeme_counts(db: Database) -> None:
    """PostgreSQL's keyword index counts each lexeme's lessons in a table of its own
    (`kb.keyword_postgres.LEXEME_COUNTS_DDL`); FTS5 keeps its own: nothing to do here, the
    step keeps the two engines' step numbers one schema change apart."""
