"""`hindsight backup`: a consistent copy of the SQLite database while the service runs; a
PostgreSQL database is sent to pg_dump."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from hindsight.cli import cli
from hindsight.wiring import load_config, open_delivery_store


def _backup(db: str, destination: Path, **extra: str) -> tuple[int, str]:
    env = {"HINDSIGHT_DB": db} | extra
    result = CliRunner().invoke(cli, ["backup", str(destination)], env=env)
    return result.exit_code, result.output


def _store_with_a_delivery(db: Path):
    store = open_delivery_store(load_config(environ={}, overrides={"db": db}))
    store.migrate()
    store.record(
        key="d-1", event="jira:issue_updated", subject="OPS-1", issue_key="OPS-1",
        actor=None, body=b"{}", auth="signature",
    )  # fmt: skip
    return store


def test_the_copy_holds_what_was_committed_while_a_writer_keeps_its_database_open(
    tmp_path: Path,
) -> None:
    db = tmp_path / "hindsight.db"
    store = _store_with_a_delivery(db)  # open, in WAL mode, as a running service holds it
    copy = tmp_path / "backup" / "copy.db"
    copy.parent.mkdir()

    code, output = _backup(str(db), copy)

    assert code == 0, output
    assert f"Backed up {db} to {copy}" in output and "checked" in output
    with sqlite3.connect(copy) as conn:
        assert conn.execute("SELECT key, status FROM deliveries").fetchall() == [
            ("d-1", "received")
        ]
    store.close()


@pytest.mark.parametrize(
    ("prepare", "message"),
    [
        ("exists", "exists: name a new file for the copy"),
        ("no-folder", "create it first"),
    ],
)
def test_an_existing_copy_is_never_overwritten_and_a_missing_folder_is_named(
    tmp_path: Path, prepare: str, message: str
) -> None:
    db = tmp_path / "hindsight.db"
    _store_with_a_delivery(db).close()
    copy = tmp_path / ("elsewhere/copy.db" if prepare == "no-folder" else "copy.db")
    if prepare == "exists":
        copy.write_bytes(b"yesterday's backup")

    code, output = _backup(str(db), copy)

    assert code == 1 and message in output
    if prepare == "exists":
        assert copy.read_bytes() == b"yesterday's backup"


def test_no_database_is_named_not_created(tmp_path: Path) -> None:
    code, output = _backup(str(tmp_path / "missing.db"), tmp_path / "copy.db")

    assert code == 1 and "no database at" in output
    assert "--db" not in output  # backup has no --db option to point at
    assert not (tmp_path / "missing.db").exists() and not (tmp_path / "copy.db").exists()


def test_a_postgresql_database_is_sent_to_pg_dump_and_its_password_kept_hidden(
    tmp_path: Path,
) -> None:
    code, output = _backup(
        "postgresql://hindsight:s3cret@db.example.com/hindsight",
        tmp_path / "copy.db",
        HINDSIGHT_QUEUE="redis://localhost:6379/0",
    )

    assert code == 1 and "back it up with pg_dump" in output
    assert "hindsight:***@db.example.com" in output and "s3cret" not in output
