"""Two web and two worker processes on one database and one Redis; one of each SIGKILLed.

    .venv/bin/python -m bench.multiprocess_reliability [--issues 600] [--engine both]

The deployment of deploy/compose.yaml on one machine: two gunicorn web processes (the wheel's
`hindsight.wsgi:create_app()`, each its own gunicorn, as on two machines) and two `hindsight
worker` processes, sharing one database (a SQLite file, or a throwaway PostgreSQL server:
testkit/postgres.py) and one throwaway Redis queue (testkit/redis.py). The Jira they act on is
the fake (testkit/fakejira) over HTTP, running the shipped ITIL policy
(deploy/policies/itil-change.yaml).

Each issue gets one violating move, made in the fake before the run: a normal change closed
without approval (Hindsight reverts it, comments, labels, audits) or an emergency change
deployed (Hindsight opens a review sub-task, flags, audits). The load generator posts those
signed deliveries over keep-alive connections spread over both web processes; like Jira behind
a load balancer, an attempt that fails is sent again, to the other process. Mid-stream one web
process and then one worker are SIGKILLed (the whole process group, as a machine dies) and
restarted. At the end every accepted delivery must be done, and every effect present exactly
once, counted from the fake's state (status reverts, comments per marker, review sub-tasks)
and the audit log (entries per delivery and rule).
`--engine both` runs SQLite and then PostgreSQL in one invocation and prints them side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from bench.figures import percentile
from bench.webhook_throughput import _read_response
from hindsight.net import free_port

ROOT = Path(__file__).resolve().parents[1]
POLICY = ROOT / "deploy" / "policies" / "itil-change.yaml"
SECRET = "bench-multiprocess-secret"
REVIEW = "Post-implementation review"  # the ITIL policy's emergency review sub-task
ENGINES = ("sqlite", "postgresql")


# -- the workload: one violating move per issue, made in the fake before the run


@dataclass(frozen=True)
class Delivery:
    """One webhook as Jira sends it: the issue it is about, its id, and the bytes on the wire."""

    issue: str
    kind: str  # "normal" (closed without approval) or "emergency" (deployed)
    key: str  # X-Atlassian-Webhook-Identifier
    raw: bytes
    headers: dict[str, str]

    def request(self, port: int) -> bytes:
        head = ["POST /webhooks/jira HTTP/1.1", f"Host: 127.0.0.1:{port}"]
        head += [f"{name}: {value}" for name, value in self.headers.items()]
        head += [f"Content-Length: {len(self.raw)}", "", ""]
        return "\r\n".join(head).encode() + self.raw


def build_site(fake: Any, issues: int) -> list[Delivery]:
    """`issues` changes in the fake, each moved once in breach of the policy by a person; the
    deliveries of those moves, signed. Hindsight's own later writes emit webhooks too; those
    are not sent (their loop guard is tested elsewhere), so each issue has one delivery."""
    from testkit.fakejira.scenario import add_policy_fields, populate_change_site

    populate_change_site(fake)
    add_policy_fields(fake)
    kinds = ["normal" if n % 2 == 0 else "emergency" for n in range(issues)]
    keys = [
        fake.add_issue(
            "CHG", "Change", f"Change {n}", status="In Progress", reporter="bob",
            fields={"Change type": {"value": kind.capitalize()}},
        )
        for n, kind in enumerate(kinds)
    ]  # fmt: skip
    fake.send_webhooks_to(lambda webhook: None, secret=SECRET)
    fake.clear_webhooks()
    for key, kind in zip(keys, kinds, strict=True):
        fake.move(key, "Done" if kind == "normal" else "Deploying", as_user="bob")
    moves = [w for w in fake.webhooks if w.event == "jira:issue_updated"]
    fake.clear_webhooks()
    assert len(moves) == issues, f"expected one move per issue, got {len(moves)}"
    kind_of = dict(zip(keys, kinds, strict=True))
    return [
        Delivery(w.body["issue"]["key"], kind_of[w.body["issue"]["key"]], w.identifier, w.raw,
                 dict(w.headers))
        for w in moves
    ]  # fmt: skip


# -- the processes


class Cluster:
    """Two web and two worker processes (each its own process group, like a machine)."""

    def __init__(self, env: dict[str, str], folder: Path) -> None:
        self.env = env
        self.folder = folder
        self.ports = [free_port(), free_port()]
        self.web: list[subprocess.Popen[bytes] | None] = [None, None]
        self.workers: list[subprocess.Popen[bytes] | None] = [None, None]
        self._logs: list[IO[bytes]] = []

    def _spawn(self, argv: list[str], name: str) -> subprocess.Popen[bytes]:
        log = (self.folder / f"{name}.log").open("ab")
        self._logs.append(log)
        return subprocess.Popen(
            argv, env=self.env, cwd=ROOT, stdout=log, stderr=log, start_new_session=True
        )

    def start_web(self, index: int, *, timeout: float = 60.0) -> None:
        gunicorn = Path(sys.executable).with_name("gunicorn")
        argv = [
            str(gunicorn), "-c", str(ROOT / "deploy" / "gunicorn.conf.py"),
            "--bind", f"127.0.0.1:{self.ports[index]}", "--workers", "1", "--threads", "4",
            "hindsight.wsgi:create_app()",
        ]  # fmt: skip
        self.web[index] = process = self._spawn(argv, f"web-{index}")
        url = f"http://127.0.0.1:{self.ports[index]}/healthz"
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(url, timeout=1).read()
                return
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"web {index} did not answer /healthz: see {self.folder}/web-{index}.log"
                        f"\n{self.tail(f'web-{index}')}"
                    ) from None
                time.sleep(0.1)

    def start_worker(self, index: int) -> None:
        hindsight = Path(sys.executable).with_name("hindsight")
        self.workers[index] = self._spawn([str(hindsight), "worker"], f"worker-{index}")

    def tail(self, name: str, lines: int = 15) -> str:
        path = self.folder / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    @staticmethod
    def kill(process: subprocess.Popen[bytes] | None) -> None:
        """SIGKILL the process and every process it started: the machine is gone."""
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def stop(self) -> None:
        """Stop everything the way an operator would (SIGTERM gunicorn, SIGINT workers)."""
        for process, sig in [(p, signal.SIGTERM) for p in self.web] + [
            (p, signal.SIGINT) for p in self.workers
        ]:
            if process is not None and process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, sig)
        for process in self.web + self.workers:
            if process is None:
                continue
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill(process)
        for log in self._logs:
            log.close()


# -- the load generator


@dataclass
class Attempt:
    at: float  # monotonic seconds when it was sent
    status: int | None  # None: the connection failed (refused, reset, closed)


@dataclass
class Load:
    accepted: dict[str, float] = field(default_factory=dict)  # key -> seconds to the 2xx
    attempts: list[Attempt] = field(default_factory=list)
    rejected: dict[str, int] = field(default_factory=dict)  # a 4xx: Jira would not retry
    unsent: list[str] = field(default_factory=list)
    started: float = 0.0  # monotonic
    seconds: float = 0.0
    finished: bool = False


async def send_all(
    ports: list[int],
    deliveries: list[Delivery],
    connections: int,
    deadline_s: float,
    load: Load,
    rate: float | None = None,
) -> Load:
    """Send every delivery until a 2xx, over `connections` keep-alive connections spread over
    the web processes; an attempt that fails is retried at once on the next process. `rate`:
    at most that many new deliveries per second (None: as fast as they are answered). `load`
    fills as it goes (another thread may watch it)."""
    todo = deque(deliveries)
    stop_at = time.monotonic() + deadline_s
    started = 0

    async def connection(home: int) -> None:
        streams: dict[int, tuple[asyncio.StreamReader, asyncio.StreamWriter]] = {}

        def drop(target: int) -> None:
            pair = streams.pop(target, None)
            if pair is not None:
                pair[1].close()

        nonlocal started
        while todo and time.monotonic() < stop_at:
            delivery, target, failures = todo.popleft(), home, 0
            if rate:
                started += 1
                await asyncio.sleep(max(0.0, load.started + started / rate - time.monotonic()))
            while time.monotonic() < stop_at:
                sent = time.monotonic()
                try:
                    if target not in streams:
                        streams[target] = await asyncio.open_connection("127.0.0.1", ports[target])
                    reader, writer = streams[target]
                    writer.write(delivery.request(ports[target]))
                    status, close = await asyncio.wait_for(_read_response(reader), 20)
                    if close:
                        drop(target)
                except (OSError, ConnectionError, asyncio.IncompleteReadError, TimeoutError):
                    drop(target)
                    status = None
                load.attempts.append(Attempt(sent, status))
                if status in (200, 202):
                    load.accepted[delivery.key] = time.monotonic() - sent
                    break
                if status is not None and 400 <= status < 500 and status not in (408, 409, 429):
                    load.rejected[delivery.key] = status
                    break
                failures += 1
                target = (target + 1) % len(ports)  # the load balancer's next choice
                if failures % len(ports) == 0:
                    await asyncio.sleep(0.05)  # every process refused: wait a moment
            else:
                load.unsent.append(delivery.key)
        for target in list(streams):
            drop(target)

    load.started = time.monotonic()
    await asyncio.gather(*(connection(n % len(ports)) for n in range(connections)))
    load.seconds = time.monotonic() - load.started
    load.unsent += [d.key for d in todo]
    load.finished = True
    return load


# -- the run


@dataclass
class Outage:
    """One SIGKILL: what was killed, when, until when it answered again, what it held."""

    what: str
    at: float
    back_at: float = 0.0
    held: list[str] = field(default_factory=list)  # deliveries a killed worker was processing


@dataclass
class Report:
    engine: str
    issues: int
    load: Load
    outages: list[Outage]
    statuses: dict[str, int]
    drained_seconds: float
    found: Findings
    violations: int  # requests the fake's OpenAPI validator refused
    skipped: str | None = None  # why the engine could not run

    @property
    def exactly_once(self) -> bool:
        return (
            self.skipped is None
            and not self.found.lost
            and not self.found.duplicates
            and not self.found.audit_missing
            and not self.load.unsent
            and not self.load.rejected
            and len(self.load.accepted) == self.issues
        )

    def during(self, outage: Outage) -> tuple[int, int]:
        """(attempts sent, attempts refused) while `outage` lasted."""
        window = [a for a in self.load.attempts if outage.at <= a.at <= outage.back_at]
        return len(window), sum(1 for a in window if a.status not in (200, 202))


@contextlib.contextmanager
def database(engine: str, folder: Path, *, durable: bool) -> Iterator[str]:
    """Where HINDSIGHT_DB points: a SQLite file, or a database on a throwaway server."""
    if engine == "sqlite":
        yield str(folder / "hindsight.db")
        return
    from testkit.postgres import ThrowawayPostgres

    server = ThrowawayPostgres(durable=durable)
    server.start()
    try:
        yield server.create_database()
    finally:
        server.stop()


def run(
    engine: str,
    *,
    issues: int,
    db: str | None = None,
    connections: int = 8,
    jira_latency: float = 0.05,
    rate: float | None = None,
    validator: Any | None = None,
    durable: bool = True,
    max_seconds: float = 300.0,
    progress: bool = False,
) -> Report:
    """One run on `engine`, in `db` when given (a HINDSIGHT_DB value), else in a new SQLite
    file or throwaway PostgreSQL server; raises `testkit.postgres.NoServer` /
    `testkit.redis.NoRedis` when a server cannot start here."""
    from testkit.fakejira.fake import FakeJira
    from testkit.redis import ThrowawayRedis

    say = print if progress else (lambda *args, **kwargs: None)
    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hindsight-mp-")))
        if db is None:
            db = stack.enter_context(database(engine, folder, durable=durable))
        redis = ThrowawayRedis().start()
        stack.callback(redis.stop)
        fake = FakeJira("cloud", validator=validator).start()
        stack.callback(fake.stop)
        deliveries = build_site(fake, issues)
        if jira_latency:  # a real Jira answers in tens of milliseconds, not microseconds
            fake.slow("*", "/rest/api/*", jira_latency, times=sys.maxsize)
        bot = fake.service_account
        env = {k: v for k, v in os.environ.items() if not k.startswith("HINDSIGHT_")}
        env.update(
            HINDSIGHT_DB=db,
            HINDSIGHT_QUEUE=redis.url(),
            HINDSIGHT_WEBHOOK_SECRET=SECRET,
            HINDSIGHT_JIRA_URL=fake.base_url,
            HINDSIGHT_JIRA_EMAIL=bot.email,
            HINDSIGHT_JIRA_API_TOKEN=bot.api_token,
            HINDSIGHT_SERVICE_ACCOUNT=bot.account_id,
            HINDSIGHT_POLICY_FILE=str(POLICY),
            HINDSIGHT_WORKERS="4",
            HINDSIGHT_RETRY_BASE_SECONDS="0.5",
            HINDSIGHT_LOG_FORMAT="json",
            HINDSIGHT_LOG_LEVEL="WARNING",
        )
        cluster = Cluster(env, folder)
        stack.callback(cluster.stop)
        try:
            cluster.start_web(0)  # the first process migrates; the others find it done
        except RuntimeError as exc:
            return _not_run(engine, issues, str(exc))
        cluster.start_web(1)
        cluster.start_worker(0)
        cluster.start_worker(1)
        say(f"{engine}: 2 web + 2 workers up; sending {issues} deliveries", flush=True)

        store = _delivery_store(env)
        outages: list[Outage] = []
        load = Load()
        killer = threading.Thread(
            target=_kill_mid_stream, args=(cluster, store, issues, load, outages, say), daemon=True
        )
        killer.start()
        asyncio.run(send_all(cluster.ports, deliveries, connections, max_seconds, load, rate))
        killer.join(timeout=max_seconds)
        drained = _drain(store, load.started, max_seconds)
        statuses = Counter({status: n for _, status, n in store.status_counts()})
        held = {key for outage in outages for key in outage.held}
        found = verify(fake, store, db, deliveries, load, held)
        store.close()
        return Report(
            engine, issues, load, outages, dict(statuses), drained, found, len(fake.violations)
        )


def _kill_mid_stream(
    cluster: Cluster, store: Any, issues: int, load: Load, outages: list[Outage], say: Any
) -> None:
    """SIGKILL web 0 when a third of the deliveries are accepted and restart it; SIGKILL
    worker 0 when half are processed (while it holds some) and restart it."""
    from webhooks.store import DONE, PROCESSING

    def processed() -> int:
        return sum(n for _, status, n in store.status_counts() if status == DONE)

    while not load.finished and len(load.accepted) < issues // 3:
        time.sleep(0.01)
    if not load.finished:
        outage = Outage("web 0", time.monotonic())
        Cluster.kill(cluster.web[0])
        say(f"SIGKILL web 0 after {len(load.accepted)} accepted", flush=True)
        cluster.start_web(0)
        outage.back_at = time.monotonic()
        outages.append(outage)
    worker = cluster.workers[0]
    assert worker is not None
    owner_pid = f":{worker.pid}:"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        held = [
            d.key for d in store.list(status=PROCESSING, limit=1000) if owner_pid in (d.owner or "")
        ]
        if held and processed() >= issues // 2:
            break
        time.sleep(0.01)
    else:
        return
    outage = Outage("worker 0", time.monotonic())
    Cluster.kill(worker)
    outage.held = [
        d.key for d in store.list(status=PROCESSING, limit=1000) if owner_pid in (d.owner or "")
    ]
    say(f"SIGKILL worker 0 after {processed()} processed, holding {len(outage.held)}", flush=True)
    cluster.start_worker(0)
    outage.back_at = time.monotonic()
    outages.append(outage)


def _delivery_store(env: dict[str, str]) -> Any:
    """The delivery log the processes share, opened from their own settings."""
    from hindsight.wiring import load_config, open_delivery_store

    return open_delivery_store(load_config(environ=env))


def _drain(store: Any, began: float, max_seconds: float) -> float:
    """Wait until no delivery is pending; seconds since the first was sent."""
    from webhooks.store import PENDING

    deadline = time.monotonic() + max_seconds
    while time.monotonic() < deadline:
        if not any(n for _, status, n in store.status_counts() if status in PENDING):
            break
        time.sleep(0.2)
    return time.monotonic() - began


@dataclass
class Findings:
    """What the fake's state and the audit log say about the accepted deliveries."""

    lost: list[str] = field(default_factory=list)  # not done, or its effect in Jira missing
    duplicates: list[str] = field(default_factory=list)  # any effect or audit entry twice
    audit_missing: list[str] = field(default_factory=list)  # done, effect there, no audit entry
    rerun: int = 0  # deliveries that needed more than one attempt (the killed worker's, say)


def verify(
    fake: Any, store: Any, db: str, deliveries: list[Delivery], load: Load, held: set[str]
) -> Findings:
    """Every accepted delivery done, with its effects present once.

    Effects, from the fake's state: a normal change moved back by Hindsight once, an emergency
    change with one review sub-task; on each issue at most one Hindsight comment per marker;
    in the audit log, for the delivery, at least one entry and at most one per rule. `held`:
    the deliveries a killed worker was processing (named in the findings).
    """
    from plugin.audit import open_audit_log
    from webhooks.store import DONE

    audit = open_audit_log(db)
    bot = fake.service_account
    found = Findings()
    for delivery in deliveries:
        if delivery.key not in load.accepted:
            continue
        issue = fake.issue(delivery.issue)
        row = store.get(delivery.key)
        if row is None or row.status != DONE:
            found.lost.append(f"{delivery.issue}: delivery {row.status if row else 'missing'}")
            continue
        found.rerun += row.attempts > 1
        reverts = [
            h for h in issue.changelog
            if h.author is bot and any(i.field_id == "status" for i in h.items)
        ]  # fmt: skip
        reviews = [
            k for k in issue.subtasks
            if fake.issue(k).fields.get("summary") == REVIEW and fake.issue(k).creator is bot
        ]  # fmt: skip
        effects = (len(reverts), len(reviews))
        if effects != ((1, 0) if delivery.kind == "normal" else (0, 1)):
            (found.duplicates if max(effects) > 1 else found.lost).append(
                f"{delivery.issue} ({delivery.kind}): {effects[0]} reverts, {effects[1]} reviews"
            )
        markers = Counter(
            marker
            for comment in issue.comments
            if comment.author is bot
            for marker in comment.properties.get("hindsight", {}).get("markers", ["?"])
        )
        found.duplicates += [
            f"{delivery.issue}: {n} comments {marker}" for marker, n in markers.items() if n > 1
        ]
        entries = Counter(
            e.rule for e in audit.query(issue=delivery.issue) if e.delivery == delivery.key
        )
        if not entries:
            where = ", held by the killed worker" if delivery.key in held else ""
            found.audit_missing.append(f"{delivery.issue} ({delivery.kind}{where}): no audit entry")
        found.duplicates += [
            f"{delivery.issue}: {n} audit entries for {rule}"
            for rule, n in entries.items()
            if n > 1
        ]
    audit.close()
    return found


def _not_run(engine: str, issues: int, reason: str) -> Report:
    return Report(engine, issues, Load(), [], {}, 0.0, Findings(), 0, skipped=reason)


# -- printing


def print_reports(reports: list[Report]) -> None:
    """The figures of each engine, side by side."""
    ran = [r for r in reports if r.skipped is None]
    for report in reports:
        if report.skipped:
            print(f"== {report.engine}: NOT RUN: {report.skipped.splitlines()[0]}")
            tail = "\n".join(report.skipped.splitlines()[1:])
            if tail:
                print(tail)
    if not ran:
        return
    width = 28
    rows: list[tuple[str, list[str]]] = []

    def row(label: str, values: list[str]) -> None:
        rows.append((label, values))

    row("engine", [r.engine for r in ran])
    row("deliveries sent", [str(r.issues) for r in ran])
    row("accepted (2xx)", [str(len(r.load.accepted)) for r in ran])
    row(
        "attempts refused, retried",
        [str(sum(a.status not in (200, 202) for a in r.load.attempts)) for r in ran],
    )
    for index, what in enumerate(("web 0", "worker 0")):

        def outage_text(r: Report, i: int = index) -> str:
            if i >= len(r.outages):
                return "-"
            outage = r.outages[i]
            if outage.what.startswith("worker"):
                return f"it held {len(outage.held)} deliveries"
            sent, refused = r.during(outage)
            return f"down {outage.back_at - outage.at:.1f} s: {sent} attempts, {refused} refused"

        row(f"SIGKILL {what}", [outage_text(r) for r in ran])
    row("processed (done)", [str(r.statuses.get("done", 0)) for r in ran])
    row(
        "other statuses",
        [str({k: v for k, v in r.statuses.items() if k != "done"} or "-") for r in ran],
    )
    row("ran again after a kill", [str(r.found.rerun) for r in ran])
    row("duplicates (must be 0)", [str(len(r.found.duplicates)) for r in ran])
    row("lost (must be 0)", [str(len(r.found.lost) + len(r.load.unsent)) for r in ran])
    row("audit entries missing", [str(len(r.found.audit_missing)) for r in ran])
    row("accepted per second", [f"{len(r.load.accepted) / r.load.seconds:,.0f}" for r in ran])
    row(
        "time to 2xx p50 / p99",
        [
            f"{percentile(list(r.load.accepted.values()), 0.5) * 1000:.1f} / "
            f"{percentile(list(r.load.accepted.values()), 0.99) * 1000:.1f} ms"
            for r in ran
        ],
    )
    row("all processed after", [f"{r.drained_seconds:.1f} s" for r in ran])
    row("Jira API violations", [str(r.violations) for r in ran])
    row("result", ["exactly once" if r.exactly_once else "FAILED" for r in ran])
    for label, values in rows:
        print(f"{label:<{width}}" + "".join(f"{v:<40}" for v in values))
    for report in ran:
        found = report.found
        problems = found.lost + found.duplicates + found.audit_missing + report.load.unsent
        for problem in problems[:10]:
            print(f"  {report.engine}: {problem}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--issues", type=int, default=600, help="deliveries (one per issue)")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument(
        "--jira-latency", type=float, default=0.05, help="seconds the fake Jira takes per call"
    )
    parser.add_argument("--engine", choices=[*ENGINES, "both"], default="both")
    parser.add_argument(
        "--validate", action="store_true", help="check every Jira request against the OpenAPI"
    )
    parser.add_argument("--max-seconds", type=float, default=300.0)
    args = parser.parse_args(argv if argv is not None else [])
    validator = None
    if args.validate:
        from testkit.fakejira.openapi import load_validator

        validator = load_validator()
    reports = []
    for engine in ENGINES if args.engine == "both" else (args.engine,):
        try:
            reports.append(
                run(
                    engine, issues=args.issues, connections=args.connections,
                    jira_latency=args.jira_latency, validator=validator,
                    max_seconds=args.max_seconds, progress=True,
                )
            )  # fmt: skip
        except Exception as exc:  # a server that cannot start here: say so, run the other
            reports.append(_not_run(engine, args.issues, f"{type(exc).__name__}: {exc}"))
    print(
        f"== 2 gunicorn web (1 process x 4 threads each) + 2 hindsight worker (4 threads each), "
        f"Redis queue, fake Jira over HTTP answering in {args.jira_latency * 1000:.0f} ms;"
        f" {os.cpu_count()} cores"
    )
    print_reports(reports)
    return 0 if reports and all(r.exactly_once for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
