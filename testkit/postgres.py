"""A throwaway PostgreSQL server for the tests and benchmarks, started by the run itself.

Uses the server programs of Debian's `postgresql` package (`/usr/lib/postgresql/<version>/bin`,
not on PATH; `dev.py test` installs the package in CI as it does Redis and Chromium), or any
`initdb` on PATH. The cluster lives in a temporary folder, listens on a free loopback port with
`trust` authentication, and runs with fsync off unless asked to be `durable` (benchmarks).
`initdb` refuses to run as root, so under root the cluster belongs to the `postgres` user.

Pytest fixtures (registered in tests/conftest.py): `postgres_server` (one per session),
`postgres_url` (a fresh database per test, dropped after), `store_location`, the one
parametrised fixture that runs a store's tests on both engines, and `store_config`, the
configuration with the database there (tests open stores from it as the service does).
"""

from __future__ import annotations

import glob
import importlib.util
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from hindsight.net import free_port

if TYPE_CHECKING:
    from hindsight.wiring import Config

USER = "hindsight"


def server_programs() -> Path | None:
    """The folder holding `initdb` and `postgres` (the newest Debian version), or None."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: int(Path(path).parts[-3]) if Path(path).parts[-3].isdigit() else 0,
    )
    return Path(found[-1]).parent if found else None


class NoServer(Exception):
    """No PostgreSQL server can be started here; the message says what is missing."""


class ThrowawayPostgres:
    """One PostgreSQL cluster in a temporary folder, for one test session or benchmark."""

    def __init__(self, *, durable: bool = False) -> None:
        """`durable`: fsync and synchronous commit on, as a production server runs (for
        benchmarks); by default both are off, for tests."""
        self.durable = durable
        programs = server_programs()
        if programs is None:
            raise NoServer(
                "no PostgreSQL server programs (initdb) found: apt-get install postgresql"
            )
        if importlib.util.find_spec("psycopg") is None:
            raise NoServer("the psycopg driver is missing: pip install 'hindsight[postgres]'")
        self.programs = programs
        self.folder = Path(tempfile.mkdtemp(prefix="hindsight-pg-"))
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._owner = self._unprivileged_owner()

    def _unprivileged_owner(self) -> dict[str, object]:
        """Popen arguments that run the server as `postgres` when we are root."""
        if os.geteuid() != 0:
            return {}
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            raise NoServer(
                "running as root and there is no `postgres` user to own the cluster"
                " (initdb refuses root): apt-get install postgresql creates it"
            ) from None
        os.chown(self.folder, account.pw_uid, account.pw_gid)
        return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def start(self, *, timeout: float = 30.0) -> None:
        initdb = subprocess.run(
            [
                self.programs / "initdb",
                "--pgdata",
                self.data,
                "--username",
                USER,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--locale",
                "C",
                "--no-sync",
            ],
            capture_output=True,
            text=True,
            **self._owner,  # type: ignore[arg-type]
        )
        if initdb.returncode != 0:
            raise NoServer(f"initdb failed: {initdb.stderr.strip() or initdb.stdout.strip()}")
        self.process = subprocess.Popen(
            [
                self.programs / "postgres",
                "-D",
                self.data,
                "-p",
                str(self.port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"unix_socket_directories={self.folder}",
                "-c",
                "max_connections=200",
                *(
                    []
                    if self.durable
                    else [
                        "-c",
                        "fsync=off",
                        "-c",
                        "synchronous_commit=off",
                        "-c",
                        "full_page_writes=off",
                    ]
                ),
            ],
            stdout=subprocess.DEVNULL,
            stderr=open(self.folder / "server.log", "wb"),  # noqa: SIM115 - lives with the server
            **self._owner,  # type: ignore[arg-type]
        )
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                psycopg.connect(self.url(), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    log = (self.folder / "server.log").read_text(errors="replace")
                    self.stop()
                    raise NoServer(f"the PostgreSQL server did not start: {log[-500:]}") from None
                time.sleep(0.1)

    def create_database(self, name: str | None = None) -> str:
        """A new, empty database; returns its URL."""
        import psycopg

        name = name or f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def create_password_user(self, password: str) -> str:
        """A new user the server asks for `password` (SCRAM; the others keep `trust`), owning a
        new database; returns its URL without the password, as `db_password_file` wants it."""
        import psycopg

        name = f"u_{uuid.uuid4().hex[:12]}"
        hba = self.data / "pg_hba.conf"
        hba.write_text(f"host all {name} 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute("SET password_encryption = 'scram-sha-256'")
            conn.execute(f'CREATE ROLE "{name}" LOGIN PASSWORD {_literal(password)}')
            conn.execute(f'CREATE DATABASE "{name}" OWNER "{name}"')
            conn.execute("SELECT pg_reload_conf()")
        url = f"postgresql://{name}@127.0.0.1:{self.port}/{name}"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the reload is asynchronous: wait until it asks
            try:
                psycopg.connect(url, password="not-" + password, connect_timeout=2).close()
            except psycopg.OperationalError:
                return url
            time.sleep(0.05)
        raise NoServer("the server did not start asking for the password within 10 s")

    def drop_database(self, url: str) -> None:
        import psycopg

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # "fast" shutdown: clients are cut off
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


def _literal(text: str) -> str:
    """`text` as an SQL string literal (for statements that take no parameters, e.g. DDL)."""
    return "'" + text.replace("'", "''") + "'"


# -- pytest fixtures


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[ThrowawayPostgres]:
    """One throwaway server for the session; the tests that need it skip when none can start."""
    try:
        server = ThrowawayPostgres()
        server.start()
    except NoServer as exc:
        pytest.skip(f"PostgreSQL tests skipped: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: ThrowawayPostgres) -> Iterator[str]:
    """A fresh database for one test, dropped after it."""
    url = postgres_server.create_database()
    try:
        yield url
    finally:
        postgres_server.drop_database(url)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a store's test keeps its data: a SQLite file, then a PostgreSQL database.

    The value is what `HINDSIGHT_DB` would hold; tests open stores from it through the
    composition root (`hindsight.wiring`), so the engine is chosen as in production.
    """
    if request.param == "sqlite":
        return str(tmp_path / "hindsight.db")
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def store_config(store_location: str, tmp_path: Path) -> Config:
    """The service's configuration with `HINDSIGHT_DB` at `store_location` (queue: a file)."""
    from hindsight.wiring import load_config

    return load_config(
        environ={}, overrides={"db": store_location, "queue": f"sqlite:///{tmp_path / 'q.db'}"}
    )
