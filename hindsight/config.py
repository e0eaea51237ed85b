"""Hindsight's settings: defaults, then a TOML file, then `HINDSIGHT_*` environment variables.

Strict on purpose: an unknown key or variable, or a value of the wrong shape, stops the service at
start with the setting's name, where it came from and what is expected. Secrets are `SecretStr`
(their repr is `'**********'`) and their values never appear in an error message.
"""

from __future__ import annotations

import contextlib
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from kb.postgres import PostgresURL
from kb.store import MAX_FILE_BYTES

ENV_PREFIX = "HINDSIGHT_"
CONFIG_ENV = "HINDSIGHT_CONFIG"
# HINDSIGHT_* variables that are not settings: where the file is, and the test-only switches.
NOT_SETTINGS = frozenset({CONFIG_ENV})
MIB = 1024 * 1024


def _database_location(value: Any) -> Path | PostgresURL:
    """A SQLite file path (or `sqlite:///path`), or a `postgresql://` URL; any other `x://` is
    refused rather than taken as a file name."""
    if isinstance(value, Path | PostgresURL):
        return value
    if not isinstance(value, str) or not value.strip():
        raise ValueError("give a file path or a postgresql:// URL")
    text = value.strip()
    if text.startswith("sqlite:///"):
        return Path(text.removeprefix("sqlite:///"))
    if text.startswith(("postgresql://", "postgres://")):
        return PostgresURL(text)
    if "://" in text:
        raise ValueError(
            "use a SQLite file path, sqlite:///path, or postgresql://user@host:5432/database"
        )
    return Path(text)


# Where every store keeps its data (HINDSIGHT_DB): a SQLite file, or a PostgreSQL database.
DatabaseLocation = Annotated[Path | PostgresURL, PlainValidator(_database_location)]


class ConfigError(Exception):
    """The configuration is invalid; the message names each bad setting and what is expected."""


class Settings(BaseModel):
    """Every setting of the service. Env name: `HINDSIGHT_` + the field name in upper case."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    # -- storage and queue
    # Declared before `db`, whose validator reads it: the password joins the URL there.
    db_password_file: Path | None = Field(
        None,
        description="file holding only the PostgreSQL password (a docker or Kubernetes secret),"
        " for a db URL without one: keeps it out of the URL and the environment; read at start",
    )
    db: DatabaseLocation = Field(
        Path("hindsight.db"),
        description="the SQLite database file, or postgresql://user:password@host:5432/database"
        " for a PostgreSQL database several machines share",
    )
    db_synchronous: Literal["normal", "full"] = Field(
        "normal",
        description="SQLite synchronous level in WAL mode: normal (safe against process crashes)"
        " or full (also against power loss, slower)",
    )
    queue: str | None = Field(
        None,
        description="work queue: empty for a SQLite file beside the database, sqlite:///path,"
        " or redis://host:port/db",
    )
    workers: int = Field(2, ge=1, le=64, description="worker threads per worker process")
    max_attempts: int = Field(
        8, ge=1, le=100, description="tries before a failing delivery is parked as dead"
    )
    retry_base_seconds: float = Field(
        2.0, gt=0, description="first retry delay; doubles each try, with jitter"
    )
    retry_max_seconds: float = Field(900.0, gt=0, description="longest delay between two tries")

    # -- receiving webhooks
    webhook_secret: list[SecretStr] = Field(
        default_factory=list,
        description="secrets for X-Hub-Signature (comma-separated; several allow rotation)",
    )
    automation_token: list[SecretStr] = Field(
        default_factory=list,
        description="shared secrets Jira Automation sends in the automation header"
        " (comma-separated)",
    )
    webhook_basic_auth: list[SecretStr] = Field(
        default_factory=list,
        description="user:password pairs Jira Data Center 10+ sends as HTTP Basic authentication"
        " (comma-separated; several allow rotation)",
    )
    webhook_url_token: list[SecretStr] = Field(
        default_factory=list,
        description="tokens accepted as ?token= in the webhook URL, for Jira Data Center 9 and"
        " older, which cannot sign (comma-separated; several allow rotation)",
    )
    automation_header: str = Field(
        "X-Hindsight-Token", min_length=1, description="header that carries an automation token"
    )
    allow_unsigned: bool = Field(
        False, description="accept deliveries without credentials (local development only)"
    )
    max_body_bytes: int = Field(
        MIB, ge=1024, le=64 * MIB, description="largest accepted webhook body in bytes"
    )
    public_url: str | None = Field(
        None, description="the URL Jira reaches Hindsight at, e.g. https://hindsight.example.com"
    )

    # -- Jira
    jira_url: str | None = Field(None, description="Jira base URL, e.g. https://x.atlassian.net")
    jira_email: str | None = Field(None, description="Jira Cloud account email (with a token)")
    jira_api_token: SecretStr | None = Field(None, description="Jira Cloud API token")
    jira_pat: SecretStr | None = Field(None, description="Jira Data Center personal access token")
    jira_token_file: Path | None = Field(
        None,
        description="file holding the API token (with jira_email) or the PAT; keeps it out of"
        " the environment",
    )
    service_account: str | None = Field(
        None,
        description="Hindsight's own Jira account (accountId on Cloud, name on Data Center);"
        " asked from Jira when unset",
    )

    # -- lessons in Jira and the web pages
    feedback_secret: list[SecretStr] = Field(
        default_factory=list,
        description="secrets signing the lessons' feedback links (comma-separated; the first"
        " signs, all verify); empty: derived from webhook_secret",
    )
    feedback_link_days: int = Field(90, ge=1, le=3650, description="days a feedback link works")
    web_token: list[SecretStr] = Field(
        default_factory=list,
        description="tokens for the lessons pages and API (Authorization: Bearer; pages also"
        " ?token= once, then a cookie); empty and no web_user_header: open",
    )
    web_user_header: str | None = Field(
        None,
        description="header a trusted reverse proxy sets to the signed-in user, e.g."
        " X-Forwarded-User; its presence grants access to the pages and API",
    )
    editor_token: list[SecretStr] = Field(
        default_factory=list,
        description="tokens that let their holder curate lessons and action items on the web"
        " (also grant reading; comma-separated); empty and no editors: nobody edits",
    )
    editors: list[str] = Field(
        default_factory=list,
        description="user names (as web_user_header carries them) allowed to curate lessons and"
        " action items (comma-separated)",
    )

    # -- other areas
    policy_file: Path | None = Field(None, description="the policy file (YAML)")
    policy_report_only: bool = Field(
        False,
        description="judge and audit every policy rule but write nothing to Jira (try a policy"
        " before switching it on)",
    )
    embed_model: str | None = Field(
        None,
        description="empty: the packaged MiniLM and multilingual USE side by side;"
        " all-MiniLM-L6-v2 or universal-sentence-encoder-multilingual-3 for one of them alone;"
        " else a sentence-transformers model name or path",
    )
    ingest_max_file_bytes: int = Field(
        MAX_FILE_BYTES,
        ge=1,
        description="`hindsight ingest` refuses, without reading it, any file larger than this",
    )

    # -- logging
    log_format: Literal["auto", "json", "text"] = Field(
        "auto", description="auto: JSON lines unless stderr is a terminal"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="least severe level logged"
    )

    @field_validator("db_password_file")
    @classmethod
    def _password_file_readable(cls, value: Path | None) -> Path | None:
        if value is not None:
            read_password_file(value)  # say now what is wrong with it, not at the first query
        return value

    @field_validator("db")
    @classmethod
    def _password_from_file(
        cls, value: Path | PostgresURL, info: ValidationInfo
    ) -> Path | PostgresURL:
        """The PostgreSQL URL with the password of `db_password_file` in it, when one is set."""
        password_file = info.data.get("db_password_file")
        if password_file is None:
            return value
        if not isinstance(value, PostgresURL):
            raise ValueError(
                "db_password_file is set but db is a SQLite file, which has no password:"
                " unset db_password_file, or set db to postgresql://user@host:5432/database"
            )
        if value.password is not None:
            raise ValueError(
                "the URL holds a password and db_password_file is set too: keep the password"
                " in the file only, postgresql://user@host:5432/database"
            )
        try:
            return value.with_password(read_password_file(password_file))
        except ValueError:
            raise ValueError(
                "db_password_file is set but the URL names no user:"
                " postgresql://user@host:5432/database"
            ) from None

    @field_validator("queue")
    @classmethod
    def _queue_scheme(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith(("sqlite:///", "redis://", "rediss://")):
            raise ValueError("use sqlite:///path, redis://host:port/db or leave it empty")
        return value

    @field_validator("jira_url", "public_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("give an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("webhook_basic_auth")
    @classmethod
    def _user_password_pairs(cls, value: list[SecretStr]) -> list[SecretStr]:
        for position, pair in enumerate(value, start=1):
            user, colon, password = pair.get_secret_value().partition(":")
            if not (colon and user.strip() and password):
                # never echo the value: it holds a password
                raise ValueError(f"value {position} is not user:password")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _jira_credentials(self) -> Settings:
        if not self.jira_url:
            return self
        has_token = self.jira_api_token or self.jira_token_file
        if not (self.jira_pat or (self.jira_email and has_token) or self.jira_token_file):
            raise ValueError(
                "jira_url is set but no credentials: set jira_email with jira_api_token (Cloud),"
                " or jira_pat (Data Center), or jira_token_file"
            )
        if self.jira_token_file and not self.jira_token_file.is_file():
            raise ValueError(f"jira_token_file {self.jira_token_file} is not a readable file")
        return self

    # -- derived values

    @property
    def queue_url(self) -> str:
        """The queue location; by default a SQLite file beside the database.

        `ConfigError` with a PostgreSQL database and no queue: asked only by what moves
        deliveries (the service, the worker, the demo), so the knowledge-base commands
        (ingest, search, lesson, reindex) run with HINDSIGHT_DB alone, as the README says."""
        if self.queue:
            return self.queue
        if isinstance(self.db, PostgresURL):
            raise ConfigError(
                "invalid configuration:\n  - db is a PostgreSQL URL, so there is no folder for"
                " the default queue file: set queue to redis://host:port/db (several machines)"
                " or sqlite:///path"
            )
        return f"sqlite:///{self.db.with_name(self.db.stem + '-queue.db')}"

    @property
    def jira_configured(self) -> bool:
        return bool(self.jira_url)

    def jira_secret(self) -> str | None:
        """The API token or PAT, from the setting or the token file (read when asked)."""
        if self.jira_token_file:
            return self.jira_token_file.read_text(encoding="utf-8").strip()
        secret = self.jira_api_token or self.jira_pat
        return secret.get_secret_value() if secret else None

    def secret_values(self) -> list[str]:
        """Every configured secret, for the log redactor: each `SecretStr` setting (so a secret
        added later is covered without an edit here), a Basic pair's password on its own, and
        the token file's content."""
        found: list[str] = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, SecretStr) and item.get_secret_value():
                    found.append(item.get_secret_value())
        found += [pair.get_secret_value().partition(":")[2] for pair in self.webhook_basic_auth]
        if isinstance(self.db, PostgresURL) and self.db.password:
            found.append(self.db.password)
        if self.jira_token_file:
            # unreadable now: the Jira client will say so when it needs the token
            with contextlib.suppress(OSError):
                found.append(self.jira_secret() or "")
        return [value for value in found if value]

    def webhook_auth_problem(self) -> str | None:
        """Why the webhook endpoint may not start, or None when it may."""
        credentials = (
            self.webhook_secret,
            self.automation_token,
            self.webhook_basic_auth,
            self.webhook_url_token,
        )
        if any(credentials) or self.allow_unsigned:
            return None
        return (
            "no webhook credentials: set HINDSIGHT_WEBHOOK_SECRET (the secret registered with the"
            " Jira webhook), HINDSIGHT_WEBHOOK_BASIC_AUTH or HINDSIGHT_WEBHOOK_URL_TOKEN (Jira"
            " Data Center 10 / 9 and older), or HINDSIGHT_AUTOMATION_TOKEN; for local development"
            " only, HINDSIGHT_ALLOW_UNSIGNED=true"
        )


def read_password_file(path: Path) -> str:
    """The password in `path`: the whole file but its final newlines (as the postgres image
    reads the same secret file). Raises ValueError saying what to fix, never quoting the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(
            f"{path} does not exist: create it holding only the PostgreSQL password, or mount"
            " the secret there"
        ) from None
    except IsADirectoryError:
        raise ValueError(f"{path} is a folder: name the file holding the password") from None
    except PermissionError:
        raise ValueError(
            f"{path} cannot be read by this process (uid {os.getuid()}): make it readable by"
            " the user Hindsight runs as (in the container image, uid 10001)"
        ) from None
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not UTF-8 text: write the password as text") from None
    password = text.rstrip("\n")
    if not password:
        raise ValueError(f"{path} is empty: write the PostgreSQL password in it")
    if "\n" in password:
        raise ValueError(f"{path} holds more than one line: write only the password in it")
    return password


def env_name(field: str) -> str:
    return ENV_PREFIX + field.upper()


def load_settings(
    config_file: str | Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build the settings: defaults < TOML file < HINDSIGHT_* variables < `overrides`.

    The file is `config_file`, else the one named by HINDSIGHT_CONFIG, else none. Raises
    `ConfigError` naming every bad setting.
    """
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}
    problems: list[str] = []

    path = config_file or environ.get(CONFIG_ENV) or None
    if path:
        file_values = _read_toml(Path(path))
        for key, value in file_values.items():
            values[key] = value
            origin[key] = f"{path}: {key}"

    fields = Settings.model_fields
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name in NOT_SETTINGS:
            continue
        key = name[len(ENV_PREFIX) :].lower()
        if key not in fields:
            problems.append(
                f"{name} (environment): unknown setting; known: {_known_names(env=True)}"
            )
            continue
        values[key] = _from_env(key, raw)
        origin[key] = f"{name} (environment)"

    for key, value in (overrides or {}).items():
        values[key] = value
        origin[key] = f"{key} (command line)"

    unknown = [k for k in values if k not in fields]
    for key in unknown:
        problems.append(f"{origin.get(key, key)}: unknown setting; known: {_known_names()}")
        values.pop(key)
    if problems:
        raise ConfigError(_report(problems))
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise ConfigError(_report(_describe(exc, origin))) from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    nested = [key for key, value in data.items() if isinstance(value, dict)]
    if nested:
        raise ConfigError(
            f"config file {path}: [{nested[0]}] tables are not settings; write flat keys"
            f" (known: {_known_names()})"
        )
    return data


def _from_env(key: str, raw: str) -> Any:
    """Environment values are text: lists are comma-separated, empty means unset."""
    annotation = Settings.model_fields[key].annotation
    if _is_list(annotation):
        return [part.strip() for part in raw.split(",") if part.strip()]
    if raw.strip() == "" and _is_optional(annotation):
        return None
    return raw.strip()


def _is_list(annotation: Any) -> bool:
    return typing.get_origin(annotation) is list


def _is_optional(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    return origin in (typing.Union, types.UnionType) and type(None) in typing.get_args(annotation)


def _describe(exc: ValidationError, origin: Mapping[str, str]) -> list[str]:
    """One line per error: where the value came from and what is expected, never the value."""
    lines = []
    for error in exc.errors(include_input=False, include_url=False):
        key = str(error["loc"][0]) if error["loc"] else ""
        message = error["msg"].removeprefix("Value error, ")
        if key:
            where = origin.get(key, f"{key} (default)")
            description = Settings.model_fields[key].description
            hint = f" ({key}: {description})" if description else ""
            lines.append(f"{where}: {message}{hint}")
        else:
            lines.append(message)
    return lines


def _report(problems: list[str]) -> str:
    return "invalid configuration:" + "".join(f"\n  - {line}" for line in problems)


def _known_names(*, env: bool = False) -> str:
    return ", ".join(env_name(n) if env else n for n in sorted(Settings.model_fields))
