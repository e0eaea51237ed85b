"""A throwaway Redis server for the tests and benchmarks, started by the run itself.

Uses Debian's `redis-server` (on PATH; `dev.py test` installs it in CI) with nothing saved to
disk, on a free loopback port. The `redis_url` fixture (registered in tests/conftest.py) gives a
test its own server and skips, saying what to install, when none can start.
"""

from __future__ import annotations

import importlib.util
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hindsight.net import free_port


class NoRedis(Exception):
    """No Redis server can be started here; the message says what is missing."""


class ThrowawayRedis:
    """One `redis-server` in a temporary folder, no persistence, for one test or benchmark."""

    def __init__(self) -> None:
        program = shutil.which("redis-server")
        if program is None:
            raise NoRedis("no redis-server on PATH: apt-get install redis-server")
        if importlib.util.find_spec("redis") is None:
            raise NoRedis("the redis client is missing: pip install 'hindsight[redis]'")
        self.program = program
        self.folder = Path(tempfile.mkdtemp(prefix="hindsight-redis-"))
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, database: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{database}"

    def start(self, *, timeout: float = 10.0) -> ThrowawayRedis:
        self.process = subprocess.Popen(
            [self.program, "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no"],
            cwd=self.folder,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise NoRedis(f"redis-server did not start on port {self.port}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A fresh Redis server for one test; skips when none can start here."""
    try:
        server = ThrowawayRedis().start()
    except NoRedis as exc:
        pytest.skip(f"Redis tests skipped: {exc}")
    try:
        yield server.url()
    finally:
        server.stop()
