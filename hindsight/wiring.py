"""The composition root: build the runtime (settings, database, dispatcher, Jira) once.

Each area registers its event handlers through one `install(runtime)` function listed in
`INSTALLERS`; the web app, the workers and the CLI all get the same runtime from `build_runtime`.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from hindsight.config import ConfigError, Settings
from kb.postgres import PostgresURL
from plugin.dispatch import Dispatcher
from plugin.events import JiraEvent
from plugin.jira.errors import JiraApiError
from plugin.jira.port import JiraPort, User
from plugin.lessons.install import install as install_lessons
from plugin.policy.install import install as install_policy
from webhooks.store import DeliveryStore, SQLiteDeliveryStore

log = logging.getLogger(__name__)

Installer = Callable[["Runtime"], None]
Clock = Callable[[], float]

# Each area appends its handler installer here (one import, one entry), e.g.
#     from plugin.policy.install import install as install_policy
#     INSTALLERS = [install_policy, ...]
INSTALLERS: list[Installer] = [install_policy, install_lessons]


@dataclass
class Runtime:
    """Everything a handler, the web app or a worker needs, built from the settings."""

    settings: Settings
    dispatcher: Dispatcher
    deliveries: DeliveryStore
    jira: JiraPort | None = None
    _service_account: User | None = None
    _identity_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # Objects an area builds once and shares between its handlers and pages (e.g. "lessons").
    services: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def db_path(self) -> Path:
        return self.settings.db

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
            return cast(
                JiraPort, _CountingJira(self.jira, self.deliveries.counters.count_jira_error)
            )
        from plugin.jira.report_only import ReportOnlyJira  # H2's module; imported when used

        return ReportOnlyJira(snapshot=event.issue if event is not None else None)


def build_runtime(
    settings: Settings,
    *,
    jira: JiraPort | None = None,
    dispatcher: Dispatcher | None = None,
    installers: Sequence[Installer] | None = None,
    deliveries: DeliveryStore | None = None,
) -> Runtime:
    """Open the database (migrating it), connect Jira when configured, install the handlers."""
    on_postgres = isinstance(settings.db, PostgresURL)
    for install in INSTALLERS if installers is None else installers:
        if on_postgres and install in _NOT_ON_POSTGRES_YET:
            raise ConfigError(
                f"db is a PostgreSQL URL, but {_NOT_ON_POSTGRES_YET[install]} cannot use"
                " PostgreSQL yet (issue 14): use a SQLite file for now"
            )
    store = deliveries or open_delivery_store(settings)
    store.migrate()
    if jira is None and settings.jira_configured:
        jira = connect_jira(settings)
    runtime = Runtime(
        settings=settings,
        dispatcher=dispatcher or Dispatcher(),
        deliveries=store,
        jira=jira,
        _service_account=_configured_account(settings.service_account),
    )
    for install in INSTALLERS if installers is None else installers:
        install(runtime)
    return runtime


# Areas whose stores have no PostgreSQL implementation yet (issue 14): refused, never half-run.
_NOT_ON_POSTGRES_YET: dict[Installer, str] = {
    install_policy: "the policy audit log",
    install_lessons: "the lesson store and the suggestion journal",
}


def open_delivery_store(settings: Settings, *, clock: Clock = time.time) -> DeliveryStore:
    """The delivery log where `db` says: a SQLite file, or a PostgreSQL database (not migrated)."""
    if isinstance(settings.db, PostgresURL):
        _require_driver()
        from webhooks.store_postgres import PostgresDeliveryStore  # needs hindsight[postgres]

        return PostgresDeliveryStore(settings.db, clock=clock)
    return SQLiteDeliveryStore(settings.db, synchronous=settings.db_synchronous, clock=clock)


def _require_driver() -> None:
    if importlib.util.find_spec("psycopg") is None:
        raise ConfigError(
            "db is a PostgreSQL URL but its driver is not installed:"
            " pip install 'hindsight[postgres]'"
        )


def connect_jira(settings: Settings) -> JiraPort:
    """The real adapter from the settings (secrets read here, never logged)."""
    try:
        from plugin.jira.adapter import connect
    except ImportError as exc:  # pragma: no cover - only while the adapter is being written
        raise ConfigError(f"the Jira adapter is not available: {exc}") from None
    secret = settings.jira_secret()
    assert settings.jira_url is not None
    if settings.jira_email:
        return connect(settings.jira_url, email=settings.jira_email, api_token=secret)
    return connect(settings.jira_url, pat=secret)


def _configured_account(value: str | None) -> User | None:
    # An accountId (Cloud) or a user name (Data Center): the loop guard matches either field.
    return User(account_id=value, name=value, key=value) if value else None


class _CountingJira:
    """Passes every call through to a JiraPort and counts JiraApiError by HTTP status."""

    def __init__(self, inner: JiraPort, count: Callable[[int | None], None]) -> None:
        self._inner = inner
        self._count = count

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if not callable(attribute):
            return attribute

        @functools.wraps(attribute)
        def counted(*args: Any, **kwargs: Any) -> Any:
            try:
                return attribute(*args, **kwargs)
            except JiraApiError as exc:
                try:
                    self._count(exc.status)
                except Exception:  # metrics must never hide the real error
                    log.warning("could not count a Jira API error", exc_info=True)
                raise

        return counted
