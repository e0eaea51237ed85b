"""Kill the service with SIGKILL mid-stream, restart it, and prove exactly-once effects.

    .venv/bin/python -m bench.webhook_reliability [--deliveries 3000] [--kills 5]

Runs the service (web endpoint + in-process workers, like `hindsight serve`) with one handler
that writes an effect row per delivery, idempotently (it checks for its own earlier write, the
way real handlers re-read Jira). Sender threads post signed deliveries and, like Jira, retry
until they get a 2xx. Meanwhile the service is SIGKILLed several times and restarted. At the
end every accepted delivery must be done and have exactly one effect row; a second write by
any re-run would show up as a delivery with two rows.
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from bench.webhook_throughput import SECRET, delivery_body
from hindsight.net import free_port
from plugin.jira.signature import sign

HANDLER_DELAY_S = 0.002  # widens the window in which a kill lands between write and "done"


def effect_writer(effects_db: Path):
    """A handler that records each invocation and writes its effect once per delivery."""
    from kb.database import connect, transaction
    from plugin.dispatch import HandlerResult

    local = threading.local()

    def conn() -> sqlite3.Connection:
        if getattr(local, "conn", None) is None:
            local.conn = connect(effects_db)
        return local.conn

    def handle(event, delivery_key: str) -> HandlerResult:
        db = conn()
        db.execute(
            "INSERT INTO invocations (delivery_key, pid) VALUES (?, ?)", (delivery_key, os.getpid())
        )
        time.sleep(HANDLER_DELAY_S)
        with transaction(db):
            if db.execute(
                "SELECT 1 FROM effects WHERE delivery_key = ?", (delivery_key,)
            ).fetchone():
                return HandlerResult("no-op", "effect already written by an earlier run")
            db.execute(
                "INSERT INTO effects (delivery_key, pid) VALUES (?, ?)", (delivery_key, os.getpid())
            )
        time.sleep(HANDLER_DELAY_S)
        return HandlerResult("acted", "effect written")

    return handle


def prepare_effects_db(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    # No UNIQUE constraint on purpose: a double write must be visible, not refused.
    conn.execute("CREATE TABLE IF NOT EXISTS effects (delivery_key TEXT NOT NULL, pid INTEGER)")
    conn.execute("CREATE TABLE IF NOT EXISTS invocations (delivery_key TEXT NOT NULL, pid INTEGER)")
    conn.commit()
    conn.close()


def serve(port: int, effects_db: Path) -> None:
    """The service under test (run in a child process that the script kills)."""
    from hindsight.config import load_settings
    from hindsight.logs import configure_logging
    from hindsight.wiring import Config, build_runtime
    from hindsight.wsgi import create_app
    from webhooks.queue import build_delivery_queue
    from webhooks.worker import run_service

    settings = load_settings()
    configure_logging("json", settings.log_level)
    runtime = build_runtime(Config(settings), installers=[])
    runtime.dispatcher.register("jira:issue_updated", "effect-writer", effect_writer(effects_db))
    queue = build_delivery_queue(runtime)
    config = runtime.config
    run_service(create_app(config, runtime, queue=queue), queue, "127.0.0.1", port, config.workers)


class Service:
    def __init__(self, port: int, tmp: Path) -> None:
        self.port, self.tmp = port, tmp
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("HINDSIGHT_")}
        self.env.update(
            HINDSIGHT_DB=str(tmp / "hindsight.db"),
            HINDSIGHT_WEBHOOK_SECRET=SECRET,
            HINDSIGHT_WORKERS="4",
            HINDSIGHT_LOG_LEVEL="WARNING",
        )
        self.process: subprocess.Popen | None = None
        self.log = (tmp / "service.log").open("ab")

    def start(self) -> None:
        code = (
            "import sys; from bench.webhook_reliability import serve; from pathlib import Path;"
            f"serve({self.port}, Path({str(self.tmp / 'effects.db')!r}))"
        )
        self.process = subprocess.Popen(
            [sys.executable, "-c", code], env=self.env, cwd=Path(__file__).resolve().parents[1],
            stdout=self.log, stderr=self.log,
        )  # fmt: skip

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()


def send_until_accepted(port: int, key: str, body: bytes, deadline: float) -> bool:
    """Post like Jira does: the same delivery id on every retry, until a 2xx."""
    request_headers = {
        "Content-Type": "application/json",
        "X-Hub-Signature": sign(body, SECRET),
        "X-Atlassian-Webhook-Identifier": key,
    }
    while time.monotonic() < deadline:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/webhooks/jira", data=body, headers=request_headers
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                if response.status in (200, 202):
                    return True
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            time.sleep(0.05)
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=3000)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--senders", type=int, default=8)
    args = parser.parse_args(argv if argv is not None else [])

    with tempfile.TemporaryDirectory(prefix="hindsight-reliability-") as tmp_name:
        tmp = Path(tmp_name)
        prepare_effects_db(tmp / "effects.db")
        port = free_port()
        service = Service(port, tmp)
        service.start()
        run = os.urandom(3).hex()
        work = [(f"rel-{run}-{n}", delivery_body(n)) for n in range(args.deliveries)]
        accepted: list[str] = []
        lock = threading.Lock()
        cursor = iter(work)
        deadline = time.monotonic() + 600

        def sender() -> None:
            while True:
                with lock:
                    item = next(cursor, None)
                if item is None:
                    return
                if send_until_accepted(port, item[0], item[1], deadline):
                    with lock:
                        accepted.append(item[0])

        started = time.monotonic()
        senders = [threading.Thread(target=sender) for _ in range(args.senders)]
        for thread in senders:
            thread.start()
        kills = 0
        # Kill at evenly spaced points of the stream, so every kill lands mid-stream.
        thresholds = [args.deliveries * (i + 1) // (args.kills + 1) for i in range(args.kills)]
        while kills < args.kills and any(t.is_alive() for t in senders):
            time.sleep(0.05)
            with lock:
                progress = len(accepted)
            if progress < thresholds[kills]:
                continue
            service.kill()
            kills += 1
            print(f"SIGKILL {kills} after {progress} accepted", flush=True)
            time.sleep(0.3)
            service.start()
        for thread in senders:
            thread.join()
        sent_seconds = time.monotonic() - started

        db = sqlite3.connect(tmp / "hindsight.db")
        wait_until = time.monotonic() + 180
        while time.monotonic() < wait_until:
            pending = db.execute(
                "SELECT count(*) FROM deliveries"
                " WHERE status IN ('received', 'processing', 'retrying')"
            ).fetchone()[0]
            if pending == 0:
                break
            time.sleep(0.5)
        drained_seconds = time.monotonic() - started
        service.stop()

        statuses = dict(db.execute("SELECT status, count(*) FROM deliveries GROUP BY status"))
        effects = sqlite3.connect(tmp / "effects.db")
        effects.execute("ATTACH DATABASE ? AS d", (str(tmp / "hindsight.db"),))
        per_key = dict(effects.execute("SELECT delivery_key, count(*) FROM effects GROUP BY 1"))
        invocations = effects.execute("SELECT count(*) FROM invocations").fetchone()[0]
        reruns = effects.execute(
            "SELECT count(*) FROM (SELECT delivery_key FROM invocations"
            " GROUP BY 1 HAVING count(*) > 1)"
        ).fetchone()[0]
        multi_attempt = db.execute("SELECT count(*) FROM deliveries WHERE attempts > 1").fetchone()[
            0
        ]

    accepted_set = set(accepted)
    missing = [k for k in accepted_set if per_key.get(k, 0) == 0]
    doubled = [k for k, n in per_key.items() if n > 1]
    strangers = [k for k in per_key if k not in accepted_set]
    print(
        f"deliveries sent         {args.deliveries}, accepted {len(accepted_set)} "
        f"in {sent_seconds:.1f} s, all processed after {drained_seconds:.1f} s"
    )
    print(f"SIGKILLs                {kills} (service restarted after each)")
    print(f"delivery statuses       {statuses}")
    print(
        f"handler invocations     {invocations} "
        f"({reruns} deliveries ran more than once; {multi_attempt} needed a 2nd attempt)"
    )
    print(f"effects written         {sum(per_key.values())} for {len(per_key)} deliveries")
    print(
        f"missing / doubled       {len(missing)} / {len(doubled)}   unknown keys {len(strangers)}"
    )
    ok = (
        len(accepted_set) == args.deliveries
        and not missing and not doubled and not strangers
        and statuses.get("done", 0) == args.deliveries
    )  # fmt: skip
    print("result                  " + ("exactly once" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
