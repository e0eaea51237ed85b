"""Worker liveness: each worker process writes a heartbeat; /readyz, /metrics and recovery read it.

A worker that has not written its heartbeat for `WORKER_STALE_SECONDS`, or that ran on this host
under a process id that no longer exists (a SIGKILLed process), is presumed dead, and the delivery
log hands its deliveries back (`DeliveryStore.recover`).
"""

from __future__ import annotations

import os
import socket
import sqlite3
from dataclasses import dataclass
from typing import Protocol

from kb.clock import Clock
from kb.database import StoreConnection
from kb.postgres import PostgresConnection, QmarkConnection

HEARTBEAT_SECONDS = 5.0
WORKER_STALE_SECONDS = 30.0
# Heartbeat rows of workers gone this long are deleted.
FORGET_AFTER_SECONDS = 10 * WORKER_STALE_SECONDS


def worker_identity() -> str:
    """A name for this worker process, unique across restarts: host, pid and a random tag."""
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"


@dataclass(frozen=True)
class LocalWorker:
    """A worker process on this machine, as its last heartbeat describes it."""

    owner: str
    pid: int
    seconds_since_heartbeat: float


class Heartbeats(Protocol):
    """What workers, /readyz, /metrics and `hindsight worker --check` need: write a heartbeat,
    retire, count the living, see this machine's own."""

    def heartbeat(self, owner: str) -> None: ...
    def retire(self, owner: str) -> None: ...
    def live_workers(self, *, max_age: float = WORKER_STALE_SECONDS) -> list[str]: ...
    def on_this_host(self) -> list[LocalWorker]: ...


class WorkerRegistry:
    """The `workers` table (made by the delivery log's migrations), on the store's connection
    (either engine: its SQL is portable)."""

    def __init__(self, db: StoreConnection | PostgresConnection, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._own_owners: set[str] = set()

    def heartbeat(self, owner: str) -> None:
        """Record that `owner` is alive now (the first call also records its host and pid)."""
        self._own_owners.add(owner)
        now = self._clock.now().timestamp()
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO workers (owner, host, pid, started_at, seen_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (owner) DO UPDATE SET seen_at = excluded.seen_at",
                (owner, socket.gethostname(), os.getpid(), now, now),
            )

    def retire(self, owner: str) -> None:
        """Forget a worker that stops cleanly."""
        with self._db.write() as conn:
            conn.execute("DELETE FROM workers WHERE owner = ?", (owner,))

    def live_workers(self, *, max_age: float = WORKER_STALE_SECONDS) -> list[str]:
        """Workers whose heartbeat is at most `max_age` seconds old."""
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT owner FROM workers WHERE seen_at >= ?",
                (self._clock.now().timestamp() - max_age,),
            ).fetchall()
        return [row[0] for row in rows]

    def on_this_host(self) -> list[LocalWorker]:
        """This machine's workers whose process still runs, the latest heartbeat first.

        For a health check run beside the worker (in its container, or on its host): the
        worker is healthy when the first one's heartbeat is fresh. A worker that died leaves a
        row behind until recovery forgets it; its process being gone leaves it out here.
        """
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT owner, pid, seen_at FROM workers WHERE host = ? ORDER BY seen_at DESC",
                (socket.gethostname(),),
            ).fetchall()
        now = self._clock.now().timestamp()
        return [
            LocalWorker(owner, pid, max(0.0, now - seen_at))
            for owner, pid, seen_at in rows
            if self._process_alive(pid, owner)
        ]

    def presumed_dead(
        self, owner: str, host: str | None, pid: int | None, seen_at: float | None, now: float
    ) -> bool:
        """Is the worker that holds a delivery gone (no recent heartbeat, or its process ended)?"""
        if seen_at is None or seen_at < now - WORKER_STALE_SECONDS:
            return True
        return host == socket.gethostname() and not self._process_alive(pid, owner)

    def forget_stale(self, conn: sqlite3.Connection | QmarkConnection, now: float) -> None:
        """Delete the rows of workers gone long ago (inside the caller's write transaction)."""
        conn.execute("DELETE FROM workers WHERE seen_at < ?", (now - FORGET_AFTER_SECONDS,))

    def _process_alive(self, pid: int | None, owner: str) -> bool:
        """Is the process that claimed work still running? (Same host only.)"""
        if pid is None:
            return False
        if pid == os.getpid():
            # Our pid under an owner name we never used: a previous incarnation (pid 1 in a
            # restarted container, say).
            return owner in self._own_owners
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
