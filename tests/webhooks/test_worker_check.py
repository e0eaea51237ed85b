"""`hindsight worker --check`: a worker's health check reads its own heartbeat back from the
database (a worker serves no HTTP), on both engines. Run as its own process, as a container's
HEALTHCHECK runs it beside the worker."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hindsight.wiring import Config, open_delivery_store
from testkit.clock import StepClock

HINDSIGHT = str(Path(sys.executable).parent / "hindsight")


def _environ(store_location: str, tmp_path: Path) -> dict[str, str]:
    """The worker's and the check's environment: the same database (as a container's)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("HINDSIGHT_")}
    return base | {
        "HINDSIGHT_DB": store_location,
        "HINDSIGHT_QUEUE": f"sqlite:///{tmp_path / 'q.db'}",
        "HF_HUB_OFFLINE": "1",
    }


def _check(environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HINDSIGHT, "worker", "--check"], env=environ, capture_output=True, text=True, timeout=60
    )


def _beat(config: Config, *, seconds_ago: float) -> str:
    """A heartbeat of this (test) process, written `seconds_ago`; returns the worker's name."""
    clock = StepClock(datetime.now(UTC) - timedelta(seconds=seconds_ago))
    store = open_delivery_store(config, clock=clock)
    store.migrate()
    store.workers.heartbeat("test-worker")
    return "test-worker"


def test_a_fresh_heartbeat_on_this_machine_is_healthy(
    store_config: Config, store_location: str, tmp_path: Path
) -> None:
    _beat(store_config, seconds_ago=2)

    checked = _check(_environ(store_location, tmp_path))

    assert checked.returncode == 0, checked.stderr
    assert f"worker test-worker (pid {os.getpid()}): heartbeat" in checked.stdout


def test_a_stale_heartbeat_is_unhealthy_and_says_so(
    store_config: Config, store_location: str, tmp_path: Path
) -> None:
    _beat(store_config, seconds_ago=75)

    checked = _check(_environ(store_location, tmp_path))

    assert checked.returncode == 1
    assert "worker test-worker" in checked.stderr and "more than 30 s" in checked.stderr
    assert "cannot write to the database" in checked.stderr


def test_no_worker_here_is_unhealthy_and_says_what_to_check(
    store_config: Config, store_location: str, tmp_path: Path
) -> None:
    open_delivery_store(store_config).migrate()

    checked = _check(_environ(store_location, tmp_path))

    assert checked.returncode == 1
    assert f"no worker process on {socket.gethostname()}" in checked.stderr
    assert "is `hindsight worker` running here" in checked.stderr


def test_a_sqlite_database_that_is_not_there_is_named_not_created(tmp_path: Path) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HINDSIGHT_")}
    environ["HINDSIGHT_DB"] = str(tmp_path / "missing.db")

    checked = _check(environ)

    assert checked.returncode == 1 and "no database at" in checked.stderr
    assert "--db" not in checked.stderr  # the worker has no --db option to point at
    assert not (tmp_path / "missing.db").exists()


def test_a_running_worker_is_healthy_and_unhealthy_once_killed(
    store_location: str, tmp_path: Path
) -> None:
    environ = _environ(store_location, tmp_path)
    worker = subprocess.Popen(
        [HINDSIGHT, "worker"], env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while (checked := _check(environ)).returncode != 0:
            assert worker.poll() is None, "the worker stopped"
            assert time.monotonic() < deadline, checked.stderr
            time.sleep(0.5)
        assert f"(pid {worker.pid}): heartbeat" in checked.stdout
    finally:
        worker.send_signal(signal.SIGKILL)  # no chance to retire its heartbeat
        worker.wait()

    checked = _check(environ)

    assert checked.returncode == 1  # its row is fresh, but its process is gone
    assert "no worker process on" in checked.stderr
