"""Settings: layering, strictness, and secrets that never show."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

import pytest

from hindsight.config import ConfigError, load_settings
from hindsight.wiring import Config


def test_defaults() -> None:
    settings = load_settings(environ={})

    assert settings.db == Path("hindsight.db")
    assert settings.queue_url == "sqlite:///hindsight-queue.db"
    assert settings.max_body_bytes == 1024 * 1024
    assert settings.webhook_auth_problem() is not None  # no secret: the endpoint must not start


def test_file_then_environment_then_overrides(tmp_path: Path) -> None:
    config = tmp_path / "hindsight.toml"
    config.write_text('db = "/srv/file.db"\nmax_attempts = 4\nworkers = 3\n')

    settings = load_settings(
        config,
        environ={"HINDSIGHT_MAX_ATTEMPTS": "6", "HINDSIGHT_WEBHOOK_SECRET": "old, new"},
        overrides={"workers": 5},
    )

    assert settings.db == Path("/srv/file.db")
    assert settings.max_attempts == 6
    assert settings.workers == 5
    assert [s.get_secret_value() for s in settings.webhook_secret] == ["old", "new"]
    assert settings.webhook_auth_problem() is None


def test_config_file_from_hindsight_config(tmp_path: Path) -> None:
    config = tmp_path / "h.toml"
    config.write_text('queue = "redis://localhost:6379/0"\n')

    settings = load_settings(environ={"HINDSIGHT_CONFIG": str(config)})

    assert settings.queue_url == "redis://localhost:6379/0"


def test_unknown_environment_variable_is_named() -> None:
    with pytest.raises(ConfigError, match="HINDSIGHT_WEBHOOK_SECRETS \\(environment\\): unknown"):
        load_settings(environ={"HINDSIGHT_WEBHOOK_SECRETS": "x"})


def test_unknown_file_key_names_file_and_key(tmp_path: Path) -> None:
    config = tmp_path / "h.toml"
    config.write_text("max_atempts = 3\n")

    with pytest.raises(ConfigError, match=r"h\.toml: max_atempts: unknown setting"):
        load_settings(config, environ={})


def test_malformed_value_says_what_is_expected() -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(environ={"HINDSIGHT_MAX_BODY_BYTES": "lots"})

    assert "HINDSIGHT_MAX_BODY_BYTES (environment)" in str(error.value)
    assert "valid integer" in str(error.value)
    assert "largest accepted webhook body in bytes" in str(error.value)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("HINDSIGHT_QUEUE", "amqp://x", "sqlite:///path, redis://"),
        ("HINDSIGHT_LOG_FORMAT", "xml", "'auto', 'json' or 'text'"),
        ("HINDSIGHT_JIRA_URL", "jira.example.com", "http:// or https://"),
    ],
)
def test_choices_and_shapes(name: str, value: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        load_settings(environ={name: value})


def test_jira_url_needs_credentials() -> None:
    with pytest.raises(ConfigError, match="no credentials"):
        load_settings(environ={"HINDSIGHT_JIRA_URL": "https://x.atlassian.net"})


def test_secrets_never_appear_in_repr_or_errors(tmp_path: Path) -> None:
    secret = "s3cr3t-value-do-not-print"
    settings = load_settings(
        environ={"HINDSIGHT_WEBHOOK_SECRET": secret, "HINDSIGHT_JIRA_PAT": secret}
    )
    assert secret not in repr(settings) and secret not in str(settings)

    with pytest.raises(ConfigError) as error:
        load_settings(environ={"HINDSIGHT_JIRA_PAT": secret, "HINDSIGHT_WORKERS": secret})
    assert secret not in str(error.value)


def test_token_file_is_read_when_asked(tmp_path: Path) -> None:
    token = tmp_path / "jira-token"
    token.write_text("pat-from-file\n")

    settings = load_settings(
        environ={
            "HINDSIGHT_JIRA_URL": "https://jira.example.com/",
            "HINDSIGHT_JIRA_TOKEN_FILE": str(token),
        }
    )

    assert settings.jira_url == "https://jira.example.com"
    assert settings.jira_secret() == "pat-from-file"


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    config = tmp_path / "broken.toml"
    config.write_text("db = \n")

    with pytest.raises(ConfigError, match=r"broken\.toml is not valid TOML"):
        load_settings(config, environ={})


def test_the_readme_documents_every_setting() -> None:
    """The README's configuration table names every setting's variable (it drifted once)."""
    from hindsight.config import Settings

    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    undocumented = [
        f"HINDSIGHT_{name.upper()}"
        for name in Settings.model_fields
        if f"`HINDSIGHT_{name.upper()}`" not in table
    ]
    assert undocumented == []


@pytest.mark.parametrize(
    "variable, value",
    [
        ("HINDSIGHT_WEBHOOK_BASIC_AUTH", "jira:pass:word, jira:old"),
        ("HINDSIGHT_WEBHOOK_URL_TOKEN", "new-token,old-token"),
    ],
)
def test_data_center_webhook_credentials_let_the_endpoint_start(variable: str, value: str) -> None:
    settings = load_settings(environ={variable: value})

    assert settings.webhook_auth_problem() is None
    assert value.split(",")[0].strip() not in repr(settings)  # secrets, never shown


def test_the_start_refusal_names_every_credential() -> None:
    problem = load_settings(environ={}).webhook_auth_problem() or ""

    for variable in ("WEBHOOK_SECRET", "WEBHOOK_BASIC_AUTH", "WEBHOOK_URL_TOKEN", "AUTOMATION"):
        assert f"HINDSIGHT_{variable}" in problem


@pytest.mark.parametrize("value", ["hunter2-no-colon", ":hunter2-no-user", "jira-no-password:"])
def test_basic_auth_must_be_user_password_pairs_and_the_error_hides_them(value: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(environ={"HINDSIGHT_WEBHOOK_BASIC_AUTH": f"jira:ok, {value}"})

    message = str(raised.value)
    assert "HINDSIGHT_WEBHOOK_BASIC_AUTH" in message and "value 2 is not user:password" in message
    assert not any(shown in message for shown in ("hunter2", "jira:ok", "jira-no-password"))


def test_a_postgresql_url_selects_postgresql_and_is_kept_whole() -> None:
    from kb.postgres import PostgresURL

    url = "postgresql://hindsight:s3cret@db.example.com:5432/hindsight"
    settings = load_settings(
        environ={"HINDSIGHT_DB": url, "HINDSIGHT_QUEUE": "redis://localhost:6379/0"}
    )

    assert isinstance(settings.db, PostgresURL) and settings.db.dsn == url
    assert "s3cret" not in f"{settings.db} {settings.db!r}"  # printed, the password is hidden
    assert "s3cret" in settings.secret_values()  # and the log redactor knows it


@pytest.mark.parametrize("value", ["mysql://u@h/db", "https://db.example.com/x"])
def test_another_url_scheme_is_a_configuration_error_not_a_file_name(value: str) -> None:
    with pytest.raises(ConfigError, match=r"HINDSIGHT_DB.*postgresql://"):
        load_settings(environ={"HINDSIGHT_DB": value})


def test_a_sqlite_url_and_a_path_name_the_same_file(tmp_path) -> None:
    by_url = load_settings(environ={"HINDSIGHT_DB": f"sqlite:///{tmp_path}/h.db"})
    assert by_url.db == tmp_path / "h.db"


def test_postgresql_without_a_queue_says_which_queue_to_set() -> None:
    """Said where a queue is needed: the knowledge-base commands need none (README)."""
    settings = load_settings(environ={"HINDSIGHT_DB": "postgresql://h@db/hindsight"})
    with pytest.raises(ConfigError, match="set queue to redis://"):
        settings.queue_url  # noqa: B018 - reading it is the check


# -- db_password_file: the PostgreSQL password from a file (a docker or Kubernetes secret)

PG_QUEUE = {"HINDSIGHT_QUEUE": "redis://localhost:6379/0"}


def test_the_password_file_joins_the_url_and_is_never_shown(tmp_path: Path) -> None:
    password = "p@ss:/ %w?#"  # every character a URL would have to encode
    secret = tmp_path / "postgres-password"
    secret.write_text(password + "\n")  # the final newline of `echo` is not part of it

    settings = load_settings(
        environ={
            "HINDSIGHT_DB": "postgresql://hindsight@db:5432/hindsight?sslmode=verify-full",
            "HINDSIGHT_DB_PASSWORD_FILE": str(secret),
        }
        | PG_QUEUE
    )

    assert settings.db.password == password
    assert settings.db.dsn.endswith("@db:5432/hindsight?sslmode=verify-full")
    assert password in settings.secret_values()  # the log redactor knows it
    shown = f"{settings!r} {settings.db} {Config(settings)!r} {Config(settings).lessons!r}"
    assert "hindsight:***@db" in shown
    assert not any(part in shown for part in (password, quote(password, safe=""), "p@ss"))


@pytest.mark.parametrize(
    ("content", "fix"),
    [
        (None, "does not exist: create it holding only the PostgreSQL password"),
        ("", "is empty: write the PostgreSQL password in it"),
        ("one\ntwo\n", "holds more than one line: write only the password"),
    ],
)
def test_a_password_file_that_cannot_serve_says_what_to_fix(
    tmp_path: Path, content: str | None, fix: str
) -> None:
    secret = tmp_path / "postgres-password"
    if content is not None:
        secret.write_text(content)
    environ = {
        "HINDSIGHT_DB": "postgresql://hindsight@db/hindsight",
        "HINDSIGHT_DB_PASSWORD_FILE": str(secret),
    }

    with pytest.raises(ConfigError) as raised:
        load_settings(environ=environ | PG_QUEUE)

    message = str(raised.value)
    assert f"HINDSIGHT_DB_PASSWORD_FILE (environment): {secret} {fix}" in message
    assert "two" not in message  # the file's content is never quoted


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_password_file_names_the_user_who_must_read_it(tmp_path: Path) -> None:
    secret = tmp_path / "postgres-password"
    secret.write_text("s3cret\n")
    secret.chmod(0o000)

    with pytest.raises(ConfigError, match=rf"cannot be read by this process \(uid {os.getuid()}\)"):
        load_settings(
            environ={
                "HINDSIGHT_DB": "postgresql://h@db/h",
                "HINDSIGHT_DB_PASSWORD_FILE": str(secret),
            }
            | PG_QUEUE
        )


@pytest.mark.parametrize(
    ("db", "fix"),
    [
        ("hindsight.db", "db is a SQLite file, which has no password"),
        ("postgresql://hindsight:other@db/hindsight", "keep the password in the file only"),
        ("postgresql://db/hindsight", "the URL names no user"),
    ],
)
def test_a_password_file_needs_a_postgresql_url_naming_a_user_without_a_password(
    tmp_path: Path, db: str, fix: str
) -> None:
    secret = tmp_path / "postgres-password"
    secret.write_text("s3cret\n")

    with pytest.raises(ConfigError) as raised:
        load_settings(
            environ={"HINDSIGHT_DB": db, "HINDSIGHT_DB_PASSWORD_FILE": str(secret)} | PG_QUEUE
        )

    assert "HINDSIGHT_DB (environment)" in str(raised.value) and fix in str(raised.value)
    assert "s3cret" not in str(raised.value) and "other" not in str(raised.value)
