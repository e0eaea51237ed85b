"""HINDSIGHT_DB_PASSWORD_FILE against a server that asks for the password (SCRAM): every store
connects with the file's password, and a wrong one is named without showing it."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from hindsight.cli import cli
from hindsight.wiring import build_runtime, load_config
from testkit.postgres import ThrowawayPostgres

pytestmark = pytest.mark.postgres

PASSWORD = "p@ss:/ %w-s3cret"  # characters a URL must encode


@pytest.fixture
def password_user(postgres_server: ThrowawayPostgres, tmp_path: Path) -> tuple[str, Path]:
    """A URL naming a user the server asks a password of, and the file holding it."""
    secret = tmp_path / "postgres-password"
    secret.write_text(PASSWORD + "\n")
    return postgres_server.create_password_user(PASSWORD), secret


def _environ(url: str, secret: Path, tmp_path: Path) -> dict[str, str]:
    return {
        "HINDSIGHT_DB": url,
        "HINDSIGHT_DB_PASSWORD_FILE": str(secret),
        "HINDSIGHT_QUEUE": f"sqlite:///{tmp_path / 'queue.db'}",
        "HINDSIGHT_ALLOW_UNSIGNED": "true",
    }


def test_every_store_connects_with_the_password_from_the_file(
    password_user: tuple[str, Path], tmp_path: Path
) -> None:
    url, secret = password_user
    runtime = build_runtime(load_config(environ=_environ(url, secret, tmp_path)))

    assert runtime.deliveries.writable()  # the delivery log, migrated
    assert runtime.lessons.store.stats().lessons == 0  # the knowledge base, migrated


def test_the_cli_reads_the_password_file_too(
    password_user: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, secret = password_user
    for name, value in _environ(url, secret, tmp_path).items():
        monkeypatch.setenv(name, value)

    result = CliRunner().invoke(cli, ["deliveries", "list"])

    assert result.exit_code == 0, result.output
    assert result.output.strip() == "No deliveries."


def test_a_wrong_password_is_named_without_showing_it(
    password_user: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, secret = password_user
    secret.write_text("not-the-password\n")
    for name, value in _environ(url, secret, tmp_path).items():
        monkeypatch.setenv(name, value)

    result = CliRunner().invoke(cli, ["deliveries", "list"])

    assert result.exit_code == 1
    assert "password authentication failed" in result.output
    assert "HINDSIGHT_DB_PASSWORD_FILE" in result.output  # what to check
    assert "not-the-password" not in result.output and "p@ss" not in result.output
