"""The composition root: the only code that reads `Settings`.

`Config` turns the settings, once, into each area's typed options (`EdgeOptions`, `WebOptions`,
`PolicyOptions`, `LessonsOptions`, `KbOptions`, `JiraOptions`, `LogOptions`); `build_runtime`
builds the collaborators (database, dispatcher, Jira, lessons services) once when the app, a
worker or a command starts, and installs each area's handlers. Areas never see the settings: a
renamed setting breaks here, at import or type-check time, instead of silently using a default.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from pydantic import SecretStr

from hindsight.config import ConfigError, Settings, load_settings
from hindsight.jira_metrics import CountingJira
from kb.clock import SYSTEM_CLOCK, Clock
from kb.postgres import PostgresURL
from plugin.dispatch import Dispatcher
from plugin.events import JiraEvent
from plugin.jira.port import JiraPort, User
from plugin.jira.report_only import ReportOnlyJira
from plugin.lessons.install import install as install_lessons_handlers
from plugin.lessons.services import (
    DEFAULT_BASE_URL,
    LessonsOptions,
    LessonsServices,
    build_services,
    feedback_secrets,
)
from plugin.policy.install import PolicyOptions
from plugin.policy.install import install as install_policy_handler
from webhooks.pipeline import RetryPolicy
from webhooks.signature import WebhookCredentials
from webhooks.state import EdgeOptions
from webhooks.store import DeliveryStore, SQLiteDeliveryStore
from webhooks.web.context import AccessRules, WebOptions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LogOptions:
    """How a process logs, and the secret values redacted from every line."""

    format: Literal["auto", "json", "text"]
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"]
    secrets: tuple[str, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class KbOptions:
    """What the knowledge-base commands read: the database, the model, the ingest limit, and
    the running service a search may ask instead of loading the model."""

    db: Path | PostgresURL
    embed_model: str | None
    ingest_max_file_bytes: int
    service_url: str | None = None  # the public_url setting
    service_token: str | None = field(default=None, repr=False)  # the first web token


@dataclass(frozen=True)
class JiraOptions:
    """Where Jira is and how Hindsight signs in (the secret is read when connecting)."""

    url: str
    email: str | None
    credentials: Literal["api_token", "pat"]
    service_account: str | None
    public_url: str | None
    secret: Callable[[], str | None] = field(repr=False)


class Config:
    """The settings, read once, as each area's typed options."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    @property
    def db(self) -> Path | PostgresURL:
        return self._settings.db

    @property
    def workers(self) -> int:
        return self._settings.workers

    @property
    def webhook_auth_problem(self) -> str | None:
        """Why the webhook endpoint may not start, or None when it may."""
        return self._settings.webhook_auth_problem()

    @functools.cached_property
    def log(self) -> LogOptions:
        s = self._settings
        return LogOptions(s.log_format, s.log_level, tuple(s.secret_values()))

    @functools.cached_property
    def edge(self) -> EdgeOptions:
        s = self._settings
        return EdgeOptions(
            queue_url=s.queue_url,
            credentials=WebhookCredentials(
                secrets=_unwrapped(s.webhook_secret),
                tokens=_unwrapped(s.automation_token),
                token_header=s.automation_header,
                basic=_unwrapped(s.webhook_basic_auth),
                url_tokens=_unwrapped(s.webhook_url_token),
                allow_unsigned=s.allow_unsigned,
            ),
            max_body_bytes=s.max_body_bytes,
            retry=RetryPolicy(
                max_attempts=s.max_attempts,
                base_seconds=s.retry_base_seconds,
                max_seconds=s.retry_max_seconds,
            ),
        )

    @functools.cached_property
    def web(self) -> WebOptions:
        s = self._settings
        return WebOptions(
            access=AccessRules(
                tokens=_unwrapped(s.web_token),
                user_header=s.web_user_header or None,
                editor_tokens=_unwrapped(s.editor_token),
                editors=frozenset(s.editors),
                # curation forms accept posts from the service's own host, and its public URL's
                allowed_origins=(s.public_url,) if s.public_url else (),
            ),
            audit_db=s.db,
            jira_url=s.jira_url,
        )

    @functools.cached_property
    def policy(self) -> PolicyOptions:
        s = self._settings
        return PolicyOptions(
            policy_file=s.policy_file, report_only=s.policy_report_only, audit_db=s.db
        )

    @functools.cached_property
    def lessons(self) -> LessonsOptions:
        """Report-only unless Jira is configured (`build_runtime` says so for an injected Jira)."""
        s = self._settings
        return LessonsOptions(
            db=s.db,
            base_url=(s.public_url or DEFAULT_BASE_URL).rstrip("/"),
            browse_base=(s.jira_url or s.public_url or DEFAULT_BASE_URL).rstrip("/"),
            feedback_secrets=feedback_secrets(
                _unwrapped(s.feedback_secret),
                # any webhook credential will do: Data Center may have no secret to sign with
                _unwrapped(s.webhook_secret)
                + _unwrapped(s.webhook_url_token)
                + _unwrapped(s.webhook_basic_auth),
            ),
            feedback_link_days=s.feedback_link_days,
            report_only=not s.jira_configured,
            policy_file=s.policy_file,
            embed_model=s.embed_model,
        )

    @functools.cached_property
    def kb(self) -> KbOptions:
        s = self._settings
        return KbOptions(
            db=s.db,
            embed_model=s.embed_model,
            ingest_max_file_bytes=s.ingest_max_file_bytes,
            service_url=s.public_url,
            service_token=next(iter(_unwrapped(s.web_token)), None),
        )

    @functools.cached_property
    def jira(self) -> JiraOptions | None:
        """None when no Jira is configured (the service then runs report-only)."""
        s = self._settings
        if not s.jira_url:
            return None
        return JiraOptions(
            url=s.jira_url,
            email=s.jira_email,
            credentials="pat" if s.jira_pat else "api_token",
            service_account=s.service_account,
            public_url=s.public_url,
            secret=s.jira_secret,
        )

    def __repr__(self) -> str:
        return f"Config(db={self.db!s})"


def load_config(
    config_file: str | Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, object] | None = None,
) -> Config:
    """The one loading path of every command and app: defaults < TOML file < HINDSIGHT_*
    variables < `overrides` (the command line). Raises `ConfigError` naming each bad setting."""
    return Config(load_settings(config_file, environ=environ, overrides=overrides))


def _unwrapped(values: Sequence[SecretStr]) -> tuple[str, ...]:
    """Secrets unwrapped once, at start, so a request does not."""
    return tuple(value.get_secret_value() for value in values)


# -- the runtime


Installer = Callable[["Runtime"], None]


def install_policy(runtime: Runtime) -> None:
    """The policy handler (a broken policy file is refused now, not at the first event)."""
    install_policy_handler(
        runtime.dispatcher,
        runtime.config.policy,
        runtime.jira_for,
        service_account=lambda: runtime.service_account,
        offline=runtime.jira is None,
    )


def install_lessons(runtime: Runtime) -> None:
    """Suggest on new issues, capture retrospectives, seed new projects."""
    install_lessons_handlers(runtime.dispatcher, runtime.lessons, runtime.jira_for)


# Each area's handlers: one entry per area.
INSTALLERS: tuple[Installer, ...] = (install_policy, install_lessons)


@dataclass
class Runtime:
    """Everything a handler, the web app or a worker needs, built once from the `Config`."""

    config: Config
    dispatcher: Dispatcher
    deliveries: DeliveryStore
    lessons: LessonsServices
    jira: JiraPort | None = None
    _service_account: User | None = None
    _identity_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def edge(self) -> EdgeOptions:
        return self.config.edge

    @property
    def web(self) -> WebOptions:
        return self.config.web

    @property
    def service_account(self) -> User | None:
        """Hindsight's own Jira account, for the loop guard; None when Jira is not configured.

        From the `service_account` setting, else asked once from Jira (`myself`). Raises
        `JiraApiError` while Jira cannot say, so callers retry rather than act blind.
        """
        if self._service_account is not None or self.jira is None:
            return self._service_account
        with self._identity_lock:
            if self._service_account is None:
                self._service_account = self.jira.myself().user
        return self._service_account

    def jira_for(self, event: JiraEvent | None) -> JiraPort:
        """The Jira a handler acts on: the real one when configured, else a report-only one.

        Report-only reads the event's own issue snapshot and records writes instead of making
        them. Either way Jira API errors are counted for /metrics.
        """
        if self.jira is not None:
            return self.jira
        return ReportOnlyJira(snapshot=event.issue if event is not None else None)


def build_runtime(
    config: Config,
    *,
    jira: JiraPort | None = None,
    dispatcher: Dispatcher | None = None,
    installers: Sequence[Installer] = INSTALLERS,
    deliveries: DeliveryStore | None = None,
    lessons: LessonsServices | None = None,
) -> Runtime:
    """Open the database (migrating it), connect Jira when configured, build the lessons
    services and install the handlers. Tests pass their own `jira` or `lessons`."""
    settings = config._settings
    store = deliveries or open_delivery_store(config)
    store.migrate()
    if jira is None and config.jira is not None:
        jira = connect_jira(config.jira)
    if jira is not None:
        jira = CountingJira(jira, store.counters.count_jira_error)
    runtime = Runtime(
        config=config,
        dispatcher=dispatcher or Dispatcher(),
        deliveries=store,
        lessons=lessons or build_services(replace(config.lessons, report_only=jira is None)),
        jira=jira,
        _service_account=_configured_account(settings.service_account),
    )
    for install in installers:
        install(runtime)
    return runtime


def open_delivery_store(config: Config, *, clock: Clock | None = None) -> DeliveryStore:
    """The delivery log where `db` says: a SQLite file, or a PostgreSQL database (not migrated).

    Its clock is this machine's for SQLite, the database server's for PostgreSQL (machines'
    clocks may disagree); tests pass their own.
    """
    settings = config._settings
    if isinstance(settings.db, PostgresURL):
        if importlib.util.find_spec("psycopg") is None:
            raise ConfigError(
                "db is a PostgreSQL URL but its driver is not installed:"
                " pip install 'hindsight[postgres]'"
            )
        from webhooks.store_postgres import PostgresDeliveryStore

        return PostgresDeliveryStore(settings.db, clock=clock)
    return SQLiteDeliveryStore(
        settings.db, synchronous=settings.db_synchronous, clock=clock or SYSTEM_CLOCK
    )


def connect_jira(options: JiraOptions) -> JiraPort:
    """The real adapter (the secret is read here, never logged)."""
    from plugin.jira.adapter import connect

    secret = options.secret()
    if options.email:
        return connect(options.url, email=options.email, api_token=secret)
    return connect(options.url, pat=secret)


def _configured_account(value: str | None) -> User | None:
    # An accountId (Cloud) or a user name (Data Center): the loop guard matches either field.
    return User(account_id=value, name=value, key=value) if value else None


__all__ = ["Config", "ConfigError", "Runtime", "build_runtime", "load_config"]
