"""The kb commands end to end through click, with the real model (marked real_model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from hindsight.cli import cli
from hindsight.commands.kb import COMMANDS


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.name)
def test_every_kb_command_has_help_with_an_example(command) -> None:
    result = CliRunner().invoke(cli, [command.name, "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output


@pytest.mark.real_model
def test_ingest_search_show_with_the_real_model(tmp_path: Path, examples: Path) -> None:
    runner = CliRunner()
    db = str(tmp_path / "kb.db")
    ingested = runner.invoke(cli, ["ingest", str(examples), "--db", db])
    assert ingested.exit_code == 0, ingested.output
    assert "8 added" in ingested.output

    found = runner.invoke(
        cli, ["search", "certificate expired and partners could not connect", "--db", db, "--json"]
    )
    assert found.exit_code == 0, found.output
    hits = json.loads(found.stdout)
    assert hits[0]["project"] == "API"
    assert hits[0]["similarity"] > 0.3
    assert set(hits[0]["found_by"]) <= {"keyword", "semantic"}

    chinese = runner.invoke(cli, ["search", "交接时没有告诉下一位值班同学", "--db", db, "--json"])
    assert json.loads(chinese.stdout)[0]["project"] == "OPS"

    # the README's examples: a Chinese question finds the English TLS-certificate retrospective,
    # an English one the Chinese migration retrospective too
    expired = runner.invoke(cli, ["search", "证书过期", "--json", "--limit", "3", "--db", db])
    assert json.loads(expired.stdout)[0]["source"].endswith("2022-09-expired-tls-certificate.md")
    rollback = runner.invoke(cli, ["search", "database migration rollback", "--json", "--db", db])
    sources = [hit["source"] for hit in json.loads(rollback.stdout)]
    assert any(source.endswith("2024-01-db-migration-rollback-zh.md") for source in sources)

    shown = runner.invoke(cli, ["lesson", hits[0]["id"], "--db", db])
    assert shown.exit_code == 0
    assert hits[0]["title"] in shown.output


@pytest.mark.real_model
def test_ingest_with_a_bad_file_exits_non_zero_with_a_summary(
    tmp_path: Path, examples: Path
) -> None:
    (examples / "bad.csv").write_text("author,content\nA,B\n")
    result = CliRunner().invoke(cli, ["ingest", str(examples), "--db", str(tmp_path / "k.db")])
    assert result.exit_code == 1
    assert "bad.csv:1: not a Parabol export: missing column(s)" in result.output
    assert "8 added" in result.output and "1 failed" in result.output


def test_search_of_an_unknown_lesson_id_says_what_to_do(tmp_path: Path) -> None:
    _keyword_store(tmp_path / "k.db")
    result = CliRunner().invoke(cli, ["lesson", "nope", "--db", str(tmp_path / "k.db")])
    assert result.exit_code == 1
    assert "no lesson has id 'nope'" in result.output


RETRO = "# Release retro\n\n## Lessons learned\n- Rehearse the rollback before the release.\n"


def _keyword_store(db: Path | str, text: str | None = RETRO) -> None:
    from kb import LessonStore

    with LessonStore(db) as store:  # keyword-only: no model needed
        if text is not None:
            store.ingest_source("retros/release.md", text)


READING = [["search", "rollback"], ["search", "rollback", "--mode", "keyword"], ["lesson", "L1"]]


@pytest.mark.parametrize("args", READING, ids=" ".join)
def test_reading_commands_never_create_a_database(tmp_path: Path, args: list[str]) -> None:
    db = tmp_path / "not" / "there.db"
    result = CliRunner().invoke(cli, [*args, "--db", str(db)])
    assert result.exit_code == 1
    assert f"no database at {db}" in result.output
    assert "hindsight ingest" in result.output and "dev.py demo" in result.output
    assert "point --db or the db setting" in result.output  # search has --db: say so
    assert not db.parent.exists()  # neither the file nor its folder was made
    assert "loading the embedding model" not in result.output  # refused before loading it


@pytest.mark.parametrize("args", READING[1:], ids=" ".join)
def test_an_empty_knowledge_base_says_how_to_fill_it(tmp_path: Path, args: list[str]) -> None:
    db = tmp_path / "empty.db"
    _keyword_store(db, text=None)
    result = CliRunner().invoke(cli, [*args, "--db", str(db)])
    assert result.exit_code == 1
    assert f"the knowledge base at {db} is empty" in result.output
    assert "hindsight ingest" in result.output


def test_keyword_search_loads_no_model_and_says_nothing_of_one(tmp_path: Path) -> None:
    _keyword_store(tmp_path / "k.db")
    result = CliRunner().invoke(
        cli, ["search", "rollback", "--mode", "keyword", "--db", str(tmp_path / "k.db")]
    )
    assert result.exit_code == 0, result.output
    assert "Rehearse the «rollback»" in result.output
    assert "loading the embedding model" not in result.stderr


@pytest.mark.real_model
def test_a_semantic_search_says_on_stderr_that_it_loads_the_model(tmp_path: Path) -> None:
    _keyword_store(tmp_path / "k.db")
    result = CliRunner().invoke(cli, ["search", "rollback", "--db", str(tmp_path / "k.db")])
    assert "loading the embedding model" in result.stderr
    assert "loading" not in result.stdout


def test_ingest_lists_what_it_skipped_and_why(tmp_path: Path) -> None:
    folder = tmp_path / "retros"
    folder.mkdir()
    (folder / "release.md").write_text(RETRO)
    (folder / "notes.docx").write_bytes(b"PK")
    (folder / ".hidden.txt").write_text("x")
    db = str(tmp_path / "k.db")
    runner = CliRunner()
    first = runner.invoke(cli, ["ingest", str(folder), "--db", db, "--format", "markdown"])
    assert first.exit_code == 0, first.output
    assert f"skipped {folder / 'notes.docx'}: not a markdown file" in first.output
    assert ".hidden" not in first.output
    again = runner.invoke(cli, ["ingest", str(folder), "--db", db, "--format", "markdown"])
    assert f"skipped {folder / 'release.md'}: unchanged since the last ingest" in again.output
    assert again.exit_code == 0


def test_ingest_that_finds_nothing_readable_says_so_and_fails(tmp_path: Path) -> None:
    folder = tmp_path / "retros"
    folder.mkdir()
    (folder / "notes.docx").write_bytes(b"PK")
    result = CliRunner().invoke(cli, ["ingest", str(folder), "--db", str(tmp_path / "k.db")])
    assert result.exit_code == 1
    assert f"skipped {folder / 'notes.docx'}: unsupported extension" in result.output
    assert f"no readable retrospective found in {folder}" in result.output


@pytest.mark.parametrize("command", ["search", "lesson"])
def test_kb_commands_load_settings_as_every_command_does(tmp_path: Path, command: str) -> None:
    """--config file < HINDSIGHT_* variables < --db, as for serve, policy, audit..."""
    from_file, from_env, from_option = (tmp_path / f"{n}.db" for n in ("file", "env", "option"))
    for db in (from_file, from_option):
        _keyword_store(db)  # the environment's database does not exist yet
    config = tmp_path / "hindsight.toml"
    config.write_text(f'db = "{from_file}"\n')
    args = (
        ["search", "rollback", "--mode", "keyword", "--json"]
        if command == "search"
        else ["lesson", "nope"]
    )

    runner = CliRunner()
    via_file = runner.invoke(cli, [*args, "--config", str(config)], env={"HINDSIGHT_DB": None})
    via_env = runner.invoke(
        cli, [*args, "--config", str(config)], env={"HINDSIGHT_DB": str(from_env)}
    )
    via_option = runner.invoke(
        cli,
        [*args, "--config", str(config), "--db", str(from_option)],
        env={"HINDSIGHT_DB": str(from_env)},
    )

    if command == "search":
        assert json.loads(via_file.output)[0]["source"] == "retros/release.md"
        assert f"no database at {from_env}" in via_env.output  # env won over the file
        assert json.loads(via_option.output)[0]["source"] == "retros/release.md"
    else:
        assert "no lesson has id 'nope'" in via_file.output
    assert via_env.exit_code == 1  # the environment's database, not the file's, was asked for
    assert not from_env.exists()


def test_kb_commands_refuse_a_bad_config_file(tmp_path: Path) -> None:
    config = tmp_path / "hindsight.toml"
    config.write_text('datbase = "x.db"\n')
    result = CliRunner().invoke(cli, ["search", "x", "--mode", "keyword", "--config", str(config)])
    assert result.exit_code == 1
    assert "datbase: unknown setting" in result.output


@pytest.mark.parametrize(
    ("args", "fill"),
    [
        (["audit"], "hindsight serve"),
        (["deliveries", "list"], "hindsight serve"),
        (["deliveries", "show", "k1"], "hindsight serve"),
    ],
    ids=["audit", "deliveries list", "deliveries show"],
)
def test_the_log_readers_never_create_a_database_either(
    tmp_path: Path, args: list[str], fill: str
) -> None:
    db = tmp_path / "not" / "there.db"
    result = CliRunner().invoke(cli, args, env={"HINDSIGHT_DB": str(db)})
    assert result.exit_code == 1
    assert f"no database at {db}" in result.output and fill in result.output
    assert not db.parent.exists()


def test_search_and_lesson_take_the_database_as_a_file_or_a_postgresql_url(
    store_location: str, tmp_path: Path
) -> None:
    _keyword_store(store_location)
    runner = CliRunner(env={"HINDSIGHT_QUEUE": f"sqlite:///{tmp_path / 'q.db'}"})
    found = runner.invoke(
        cli, ["search", "rollback", "--mode", "keyword", "--json", "--db", store_location]
    )
    assert found.exit_code == 0, found.output
    [hit] = json.loads(found.stdout)
    shown = runner.invoke(cli, ["lesson", hit["id"], "--db", store_location])
    assert shown.exit_code == 0, shown.output
    assert "Rehearse the rollback before the release." in shown.output
