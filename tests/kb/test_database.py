"""The shared SQLite conventions: one connection recipe, migrations that never run twice."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest
import sqlite_utils
from sqlite_utils.migrations import Migrations

from kb.database import connect, migrate, run_script

SCHEMA = """
CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL);
CREATE TRIGGER notes_no_delete BEFORE DELETE ON notes
    BEGIN SELECT RAISE(ABORT, 'notes are append-only'); END;
"""


def _notes_migrations() -> Migrations:
    migrations = Migrations("test.notes")

    @migrations(name="m001_notes")
    def m001(db):
        run_script(db, SCHEMA)

    @migrations(name="m002_tags")
    def m002(db):
        db.execute("ALTER TABLE notes ADD COLUMN tag TEXT")

    return migrations


def test_connect_uses_wal_and_a_busy_timeout(tmp_path: Path) -> None:
    conn = connect(tmp_path / "sub" / "h.db", timeout=5)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000


def test_migrations_apply_once_and_keep_trigger_bodies_whole(tmp_path: Path) -> None:
    conn = connect(tmp_path / "h.db")
    assert migrate(conn, _notes_migrations()) == ["m001_notes", "m002_tags"]
    assert migrate(conn, _notes_migrations()) == []
    conn.execute("INSERT INTO notes (text, tag) VALUES ('a', 'x')")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM notes")


def test_a_failing_migration_leaves_nothing_half_applied(tmp_path: Path) -> None:
    migrations = Migrations("test.broken")

    @migrations(name="m001_broken")
    def m001(db):
        db.execute("CREATE TABLE half (id INTEGER)")
        db.execute("CREATE TABLE half (id INTEGER)")  # fails: already exists

    conn = connect(tmp_path / "h.db")
    with pytest.raises(sqlite3.OperationalError):
        migrate(conn, migrations)
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert "half" not in tables
    assert [m.name for m in migrations.pending(sqlite_utils.Database(conn))] == ["m001_broken"]


def _migrate_in_child(path: str) -> list[str]:
    return migrate(connect(path), _notes_migrations())


def test_processes_starting_together_apply_each_step_once(tmp_path: Path) -> None:
    path = str(tmp_path / "h.db")
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        results = pool.map(_migrate_in_child, [path] * 4)
    assert sorted(name for names in results for name in names) == ["m001_notes", "m002_tags"]


def test_run_script_refuses_an_unfinished_statement(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="incomplete SQL statement"):
        run_script(sqlite_utils.Database(connect(tmp_path / "h.db")), "CREATE TABLE t (id")


def test_a_store_connection_writes_atomically_and_nests(tmp_path: Path) -> None:
    from kb.database import StoreConnection

    db = StoreConnection(tmp_path / "h.db")
    db.migrate(_notes_migrations())
    with pytest.raises(RuntimeError, match="boom"), db.write() as conn:
        conn.execute("INSERT INTO notes (text) VALUES ('lost')")
        raise RuntimeError("boom")
    with db.write() as conn:
        conn.execute("INSERT INTO notes (text) VALUES ('kept')")
        with db.write() as inner, db.read() as reader:  # a method called inside another's write
            inner.execute("INSERT INTO notes (text) VALUES ('also kept')")
            assert reader.execute("SELECT count(*) FROM notes").fetchone()[0] == 2

    assert [t for (t,) in db.conn.execute("SELECT text FROM notes ORDER BY id")] == [
        "kept",
        "also kept",
    ]


def test_a_read_is_one_snapshot_and_cannot_turn_into_a_write(tmp_path: Path) -> None:
    from kb.database import StoreConnection

    db = StoreConnection(tmp_path / "h.db")
    db.migrate(_notes_migrations())
    other = connect(tmp_path / "h.db")
    with db.read() as conn:
        before = conn.execute("SELECT count(*) FROM notes").fetchone()[0]
        other.execute("INSERT INTO notes (text) VALUES ('meanwhile')")  # another process writes
        assert conn.execute("SELECT count(*) FROM notes").fetchone()[0] == before
        with pytest.raises(RuntimeError, match="inside a read"), db.write():
            pass
    assert db.conn.execute("SELECT count(*) FROM notes").fetchone()[0] == before + 1


def test_can_write_takes_the_write_lock_and_changes_nothing(tmp_path: Path) -> None:
    from kb.database import StoreConnection

    db = StoreConnection(tmp_path / "h.db")
    db.migrate(_notes_migrations())
    changes = db.conn.total_changes
    assert db.can_write()
    assert db.conn.total_changes == changes
    holder = sqlite3.connect(tmp_path / "h.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    db.conn.execute("PRAGMA busy_timeout=20")
    assert not db.can_write()
    holder.execute("ROLLBACK")
    assert db.can_write()
