"""A new user's first mistakes with HINDSIGHT_DB=postgresql://...: each command says what to fix.

Tried from the README's "Running on several machines": with the server down, a database or user
that does not exist, or a wrong password, the knowledge-base commands named the problem while
`deliveries`, `audit`, `worker` and `serve` printed psycopg's traceback. Every store now opens
through `kb.postgres.PostgresConnection.migrate`, which says what to check, and the CLI shows it.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from hindsight.cli import cli

pytest.importorskip("psycopg", reason="pip install 'hindsight[postgres]'")

COMMANDS = [
    ["deliveries", "list"],
    ["audit"],
    ["worker"],
    ["serve", "--port", "1"],
    ["ingest", "."],
    ["lesson", "L1"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c[:2]) for c in COMMANDS])
def test_an_unreachable_postgresql_is_named_with_what_to_check(command: list[str]) -> None:
    url = "postgresql://hindsight:s3cret@127.0.0.1:1/hindsight"  # nothing listens on port 1
    environ = {
        "HINDSIGHT_DB": url,
        "HINDSIGHT_QUEUE": "redis://127.0.0.1:1/0",
        "HINDSIGHT_WEBHOOK_SECRET": "x",
        "HINDSIGHT_EMBED_MODEL": "all-MiniLM-L6-v2",
    }

    result = CliRunner().invoke(cli, command, env=environ)

    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)  # click's error exit, not a traceback
    assert (
        "Error: cannot reach the PostgreSQL database postgresql://hindsight:***@127.0.0.1:1/"
        in (result.output)
    )
    assert "check that the server runs" in result.output and "s3cret" not in result.output


def test_a_missing_database_is_named(postgres_server) -> None:
    url = postgres_server.url("no_such_database")
    result = CliRunner().invoke(
        cli, ["deliveries", "list"], env={"HINDSIGHT_DB": url, "HINDSIGHT_QUEUE": "redis://x:1/0"}
    )

    assert result.exit_code == 1
    assert 'database "no_such_database" does not exist' in result.output


def test_the_knowledge_base_commands_need_no_queue_the_service_names_it(
    postgres_url: str, tmp_path
) -> None:
    """README: ingest, search, reindex and lesson take the URL alone. They were refused for a
    missing queue they never use; the service and the worker still say which queue to set."""
    (tmp_path / "retro.md").write_text(
        "# Retro\n\n## Lessons learned\n- Rehearse the rollback before the release.\n"
    )
    environ = {"HINDSIGHT_DB": postgres_url, "HINDSIGHT_WEBHOOK_SECRET": "x"}
    runner = CliRunner()

    ingested = runner.invoke(cli, ["ingest", str(tmp_path)], env=environ)
    worker = runner.invoke(cli, ["worker"], env=environ)

    assert ingested.exit_code == 0, ingested.output
    assert "1 added" in ingested.output
    assert worker.exit_code == 1 and isinstance(worker.exception, SystemExit)
    assert "set queue to redis://host:port/db" in worker.output
