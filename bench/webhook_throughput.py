"""How many signed Jira deliveries per second gunicorn accepts, and how fast it answers.

    .venv/bin/python -m bench.webhook_throughput [--deliveries 20000] [--connections 4]
    .venv/bin/python -m bench.webhook_throughput --engine postgresql   # or: both

Starts gunicorn (deploy/gunicorn.conf.py) on 127.0.0.1 with a fresh database, sends signed
deliveries from an asyncio load generator on loopback (keep-alive connections, a fixed number
of requests in flight), prints deliveries/s and p50/p99 time to the 2xx, then checks that every
accepted delivery is in the database. Workers are not running: this measures the edge alone.
Target: >= 1,000 deliveries/s with p99 <= 25 ms.

`--engine postgresql` keeps the delivery log in a throwaway PostgreSQL server on this machine
(testkit/postgres.py, durable: fsync and synchronous commit on, as in production); `both` runs
SQLite and then PostgreSQL in the same invocation. The queue is a SQLite file in every case.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from bench.figures import percentile
from hindsight.net import free_port
from plugin.jira.signature import sign

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-webhook-secret"
TARGET_RATE = 1000.0
TARGET_P99_MS = 25.0


def delivery_body(n: int) -> bytes:
    """A Cloud-shaped status transition, about 2 KB like the real ones; issue varies."""
    issue = f"OPS-{n % 500}"
    payload = {
        "timestamp": 1_700_000_000_000 + n,
        "webhookEvent": "jira:issue_updated",
        "issue_event_type_name": "issue_generic",
        "user": {"accountId": f"557058:user-{n % 37}", "displayName": "Alice Example"},
        "issue": {
            "id": str(10_000 + n % 500),
            "key": issue,
            "fields": {
                "summary": "Rotate the database credentials on the payments cluster",
                "description": "Change plan, rollback plan and risk review attached. " * 12,
                "project": {"id": "10000", "key": "OPS", "name": "Operations"},
                "issuetype": {"id": "10002", "name": "Change", "subtask": False},
                "status": {"id": "10001", "name": "In Review"},
                "priority": {"id": "2", "name": "High"},
                "labels": ["payments", "database"],
                "customfield_10010": {"value": "Normal change"},
            },
        },
        "changelog": {
            "id": str(100_000 + n),
            "items": [
                {
                    "field": "status",
                    "fieldId": "status",
                    "from": "10000",
                    "fromString": "To Do",
                    "to": "10001",
                    "toString": "In Review",
                }
            ],
        },
    }
    return json.dumps(payload).encode()


def http_request(port: int, key: str, body: bytes) -> bytes:
    head = (
        f"POST /webhooks/jira HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        f"X-Hub-Signature: {sign(body, SECRET)}\r\n"
        f"X-Atlassian-Webhook-Identifier: {key}\r\n\r\n"
    )
    return head.encode() + body


@dataclass
class LoadResult:
    latencies: list[float] = field(default_factory=list)
    accepted: list[str] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("server closed the connection")
    status = int(status_line.split()[1])
    length, close = 0, False
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        if name.lower() == "content-length":
            length = int(value)
        elif name.lower() == "connection" and value.strip().lower() == "close":
            close = True
    await reader.readexactly(length)
    return status, close


async def generate_load(
    port: int, requests: list[tuple[str, bytes]], connections: int, deadline_s: float
) -> LoadResult:
    """Send every request over `connections` keep-alive connections, one in flight on each."""
    result = LoadResult()
    next_index = 0
    stop_at = time.perf_counter() + deadline_s

    async def connection() -> None:
        nonlocal next_index
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while next_index < len(requests) and time.perf_counter() < stop_at:
            key, raw = requests[next_index]
            next_index += 1
            started = time.perf_counter()
            writer.write(raw)
            status, close = await _read_response(reader)
            result.latencies.append(time.perf_counter() - started)
            result.statuses[status] = result.statuses.get(status, 0) + 1
            if status in (200, 202):
                result.accepted.append(key)
            if close:
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(connections)))
    result.seconds = time.perf_counter() - began
    return result


def start_gunicorn(
    port: int, db: str, queue: str, workers: int, threads: int, synchronous: str
) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HINDSIGHT_")}
    env.update(
        HINDSIGHT_DB=db,
        HINDSIGHT_QUEUE=queue,
        HINDSIGHT_WEBHOOK_SECRET=SECRET,
        HINDSIGHT_LOG_LEVEL="WARNING",
        HINDSIGHT_DB_SYNCHRONOUS=synchronous,
    )
    gunicorn = Path(sys.executable).with_name("gunicorn")
    command = [
        str(gunicorn), "-c", str(ROOT / "deploy" / "gunicorn.conf.py"),
        "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--threads", str(threads),
        "bench.webhook_app:create_app()",
    ]  # fmt: skip
    process = subprocess.Popen(command, env=env, cwd=ROOT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read()
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("gunicorn did not answer /healthz within 30 s")


def process_tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and its children (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry.name) == pid or int(fields[1]) == pid:  # fields[1] is the parent pid
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=2, help="threads per gunicorn worker")
    parser.add_argument("--synchronous", choices=["normal", "full"], default="normal")
    parser.add_argument("--max-seconds", type=float, default=120.0)
    parser.add_argument("--engine", choices=["sqlite", "postgresql", "both"], default="sqlite")
    args = parser.parse_args(argv if argv is not None else [])
    engines = ["sqlite", "postgresql"] if args.engine == "both" else [args.engine]
    return max(run(args, engine) for engine in engines)


def run(args: argparse.Namespace, engine: str) -> int:
    """One measured run with the delivery log on `engine`; 0 when every delivery was stored."""
    server_db = None
    if engine == "postgresql":
        from testkit.postgres import ThrowawayPostgres

        server_db = ThrowawayPostgres(durable=True)
        server_db.start()
    try:
        return _measure(args, engine, server_db)
    finally:
        if server_db is not None:
            server_db.stop()


def _stored(db: str, keys: list[str]) -> int:
    """How many of `keys` the delivery log holds as received."""
    if db.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(db) as conn:
            return conn.execute(
                "SELECT count(*) FROM deliveries WHERE key = ANY(%s) AND status = 'received'",
                (keys,),
            ).fetchone()[0]
    conn = sqlite3.connect(db)
    conn.execute("CREATE TEMP TABLE sent (key TEXT PRIMARY KEY)")
    conn.executemany("INSERT INTO temp.sent VALUES (?)", [(k,) for k in keys])
    stored = conn.execute(
        "SELECT count(*) FROM deliveries JOIN temp.sent USING (key) WHERE status = 'received'"
    ).fetchone()[0]
    conn.close()
    return stored


def _measure(args: argparse.Namespace, engine: str, server_db: object) -> int:
    with tempfile.TemporaryDirectory(prefix="hindsight-bench-") as tmp:
        db = (
            server_db.create_database()  # type: ignore[attr-defined]
            if server_db is not None
            else str(Path(tmp) / "hindsight.db")
        )
        queue = f"sqlite:///{Path(tmp) / 'queue.db'}"
        port = free_port()
        run_id = os.urandom(4).hex()
        warmup = [(f"warm-{run_id}-{n}", delivery_body(n)) for n in range(500)]
        measured = [
            (f"bench-{run_id}-{n}", delivery_body(1000 + n)) for n in range(args.deliveries)
        ]
        prepared_warmup = [(k, http_request(port, k, b)) for k, b in warmup]
        prepared = [(k, http_request(port, k, b)) for k, b in measured]
        server = start_gunicorn(port, db, queue, args.workers, args.threads, args.synchronous)
        try:
            asyncio.run(generate_load(port, prepared_warmup, args.connections, 30))
            server_cpu, client_cpu = process_tree_cpu(server.pid), time.process_time()
            result = asyncio.run(generate_load(port, prepared, args.connections, args.max_seconds))
            server_cpu = process_tree_cpu(server.pid) - server_cpu
            client_cpu = time.process_time() - client_cpu
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
        durable = _stored(db, result.accepted)

    sent = len(result.latencies)
    rate = sent / result.seconds
    p50 = percentile(result.latencies, 0.50) * 1000
    p99 = percentile(result.latencies, 0.99) * 1000
    log = (
        "PostgreSQL 15 on this machine (fsync, synchronous_commit on)"
        if engine == "postgresql"
        else f"SQLite WAL synchronous={args.synchronous}"
    )
    print(f"== delivery log: {log}")
    print(
        f"gunicorn gthread {args.workers} workers x {args.threads} threads on {os.cpu_count()} "
        f"cores; {args.connections} keep-alive connections"
    )
    print(f"deliveries sent       {sent} in {result.seconds:.2f} s   statuses {result.statuses}")
    print(f"accepted per second   {rate:,.0f}   (target >= {TARGET_RATE:,.0f})")
    print(
        f"time to 2xx           p50 {p50:.2f} ms   p99 {p99:.2f} ms   "
        f"mean {statistics.fmean(result.latencies) * 1000:.2f} ms   (target p99 <= "
        f"{TARGET_P99_MS:.0f} ms)"
    )
    print(
        f"CPU per delivery      server {server_cpu / sent * 1e6:.0f} us   "
        f"load generator {client_cpu / sent * 1e6:.0f} us"
    )
    print(f"durable in the log    {durable} of {len(result.accepted)} accepted")
    ok = durable == len(result.accepted) == sent
    print(
        "result                "
        + ("all accepted deliveries stored" if ok else "MISSING DELIVERIES")
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
