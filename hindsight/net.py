"""A free TCP port, for a server started on this machine: the demo's (`hindsight demo`), and
the throwaway servers of the tests and benchmarks (PostgreSQL, Redis, gunicorn)."""

from __future__ import annotations

import socket


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that nothing listens on right now (the system picks it; another
    process may take it before the caller binds it, which loopback test servers can afford)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])
