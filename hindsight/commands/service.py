"""Running the service: `serve`, `worker`, and for operators `deliveries list|show|replay`
and `backup`."""

from __future__ import annotations

import datetime as dt
import json
import socket
from pathlib import Path
from typing import Any

import click

from hindsight.logs import configure_logging
from hindsight.terminal import echo_line, printable
from hindsight.wiring import (
    Config,
    ConfigError,
    LogOptions,
    Runtime,
    build_runtime,
    load_config,
    open_delivery_store,
)
from webhooks.queue import DeliveryQueue, QueueNotConfigured, build_delivery_queue
from webhooks.store import STATUSES, Delivery
from webhooks.workers import WORKER_STALE_SECONDS

config_option = click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="TOML settings file (default: $HINDSIGHT_CONFIG; environment variables win).",
)


def config_from(config_file: Path | None, **overrides: object) -> Config:
    """The configuration of every command: defaults < `--config` file (or $HINDSIGHT_CONFIG) <
    HINDSIGHT_* variables < the command's own options (those given). A bad one is a CLI error."""
    try:
        return load_config(config_file, overrides={k: v for k, v in overrides.items() if v})
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def require_database(db: object, fill: str, *, db_option: bool = False) -> None:
    """Refuse to read a SQLite database that is not there: opening it would create an empty one.

    Reading commands call this first, so a mistyped `--db` or HINDSIGHT_DB says so instead of
    leaving a new empty file (and its folder) behind and answering "nothing found". `fill` says
    what puts data there; `db_option`: the command has a `--db` option to name in the hint. A
    PostgreSQL URL is left to its server.
    """
    if isinstance(db, Path) and not db.is_file():
        where = "--db or the db setting" if db_option else "the db setting"
        raise click.ClickException(
            f"no database at {db}; {fill}, or point {where} (HINDSIGHT_DB, --config) at an"
            " existing one"
        )


def runtime_from(config: Config) -> Runtime:
    """The runtime for a command, turning a bad configuration into a CLI error."""
    try:
        return build_runtime(config)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def start_logging(options: LogOptions) -> None:
    configure_logging(options.format, options.level, secrets=options.secrets)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option("--workers", type=click.IntRange(1, 64), help="Worker threads (default: settings).")
@config_option
def serve(host: str, port: int, workers: int | None, config_file: Path | None) -> None:
    """Run the webhook endpoint with in-process workers (development and small sites).

    Listens for Jira at POST /webhooks/jira and processes deliveries in the same process.
    For production run gunicorn with `hindsight.wsgi:create_app()` and `hindsight worker`
    (see deploy/). Stop with Ctrl-C: the current deliveries finish first.

    \b
    Example:
        HINDSIGHT_WEBHOOK_SECRET=change-me hindsight serve --port 8000
        HINDSIGHT_ALLOW_UNSIGNED=true hindsight serve   # local experiments only
    """
    from hindsight.wsgi import create_app
    from webhooks.worker import run_service

    config = config_from(config_file, workers=workers)
    problem = config.webhook_auth_problem
    if problem:
        raise click.ClickException(problem)
    start_logging(config.log)
    runtime = runtime_from(config)
    queue = _queue(runtime)
    app = create_app(config, runtime, queue=queue)
    click.echo(f"Hindsight listening on http://{host}:{port}/webhooks/jira", err=True)
    run_service(app, queue, host, port, config.workers)


@click.command()
@click.option("--threads", type=click.IntRange(1, 64), help="Worker threads (default: settings).")
@click.option(
    "--check",
    is_flag=True,
    help="Do not process: exit 0 when a worker on this machine wrote its heartbeat within"
    f" {WORKER_STALE_SECONDS:.0f} s, else 1 saying why (a container's health check).",
)
@config_option
def worker(threads: int | None, check: bool, config_file: Path | None) -> None:
    """Process queued deliveries (production; run beside gunicorn, one or more per machine).

    Runs handlers for each stored delivery, retries failures with backoff, parks deliveries
    that keep failing as dead, and re-queues work left by a worker that died. A worker
    writes a heartbeat to the database every few seconds; `--check`, run beside it (in its
    container, or on its machine), reads it back: the worker is alive and reaches the
    database. It opens only the delivery log and changes nothing.

    \b
    Example:
        hindsight worker --threads 4
        hindsight worker --check     # HEALTHCHECK CMD, or a Kubernetes exec probe
    """
    config = config_from(config_file, workers=threads)
    if check:
        _check_local_worker(config)
        return
    from webhooks.worker import run_worker

    start_logging(config.log)
    run_worker(_queue(runtime_from(config)), config.workers)


def _check_local_worker(config: Config) -> None:
    """Exit 0 when this machine's latest worker heartbeat is fresh, else a CLI error."""
    require_database(config.db, "a worker creates it when it starts")
    try:
        workers = open_delivery_store(config).workers.on_this_host()
    except Exception as error:  # the edge of a health check: one line saying why
        reason = (str(error).strip() or type(error).__name__).splitlines()[0]
        raise click.ClickException(
            f"cannot read the worker heartbeats in {config.db}: {reason}; check that the"
            " database is up and that a worker has started on it once (it creates the tables)"
        ) from None
    host = socket.gethostname()
    if not workers:
        raise click.ClickException(
            f"no worker process on {host} has written a heartbeat: is `hindsight worker`"
            " running here, with the same db setting (HINDSIGHT_DB)?"
        )
    latest = workers[0]
    age = latest.seconds_since_heartbeat
    if age > WORKER_STALE_SECONDS:
        raise click.ClickException(
            f"worker {latest.owner} (pid {latest.pid}) last wrote its heartbeat {age:.0f} s ago,"
            f" more than {WORKER_STALE_SECONDS:.0f} s: it is stuck or cannot write to the"
            " database (its log says which); other workers now take over its deliveries"
        )
    echo_line(f"worker {latest.owner} (pid {latest.pid}): heartbeat {age:.1f} s ago")


DELIVERIES_COME_FROM = "deliveries are logged there by `hindsight serve` (or `python3 dev.py demo`)"


@click.group()
def deliveries() -> None:
    """See and replay the deliveries Jira sent (the delivery log).

    \b
    Example:
        hindsight deliveries list --status dead
        hindsight deliveries show 8f0c1d2e-...
        hindsight deliveries replay --all-dead
    """


@deliveries.command("list")
@click.option("--status", type=click.Choice(STATUSES), help="Only deliveries in this status.")
@click.option("--event", help="Only this event type, e.g. jira:issue_updated.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@config_option
def list_deliveries(
    status: str | None, event: str | None, limit: int, as_json: bool, config_file: Path | None
) -> None:
    """List deliveries, newest first.

    \b
    Example:
        hindsight deliveries list --status dead --limit 20
    """
    config = config_from(config_file)
    require_database(config.db, DELIVERIES_COME_FROM)
    store = runtime_from(config).deliveries
    rows = store.list(status=status, event=event, limit=limit)
    if as_json:
        for row in rows:
            click.echo(json.dumps(_summary(row)))
        return
    if not rows:
        click.echo("No deliveries.")
        return
    for row in rows:
        echo_line(
            f"{_time(row.received_at)}  {row.status:10} {row.attempts:>2}x  {row.event:24} "
            f"{row.subject or '-':16} {row.key}"
        )


@deliveries.command("show")
@click.argument("key")
@click.option("--body", is_flag=True, help="Also print the delivery's JSON body.")
@config_option
def show_delivery(key: str, body: bool, config_file: Path | None) -> None:
    """Show one delivery: status, attempts, handler results and the last error.

    \b
    Example:
        hindsight deliveries show 3f2a9c7e-5b1d-4e0a-9d8e-1a2b3c4d5e6f --body
    """
    config = config_from(config_file)
    require_database(config.db, DELIVERIES_COME_FROM)
    store = runtime_from(config).deliveries
    row = store.get(key)
    if row is None:
        raise click.ClickException(f"no delivery {key!r}; `hindsight deliveries list` shows keys")
    shown = _summary(row) | {"results": row.handler_results(), "last_error": row.last_error}
    if body:
        shown["body"] = row.payload()
    click.echo(json.dumps(shown, indent=2))


@deliveries.command("replay")
@click.argument("keys", nargs=-1)
@click.option("--all-dead", is_flag=True, help="Replay every delivery parked as dead.")
@config_option
def replay_deliveries(keys: tuple[str, ...], all_dead: bool, config_file: Path | None) -> None:
    """Run finished deliveries again (dead ones after a fix, or done ones on purpose).

    Handlers are idempotent, so replaying a done delivery repeats no write that already
    happened. Deliveries still pending are left alone.

    \b
    Example:
        hindsight deliveries replay --all-dead
        hindsight deliveries replay 3f2a9c7e-5b1d-4e0a-9d8e-1a2b3c4d5e6f
    """
    runtime = runtime_from(config_from(config_file))
    store = runtime.deliveries
    chosen = list(keys) + (store.keys(status="dead") if all_dead else [])
    if not chosen:
        raise click.ClickException("name delivery keys to replay, or pass --all-dead")
    queue = _queue(runtime)
    replayed = 0
    for key in chosen:
        row = store.get(key)
        if row is None:
            click.echo(f"{printable(key)}: no such delivery", err=True)
        elif store.replay(key):
            queue.enqueue(key)
            replayed += 1
            click.echo(f"{printable(key)}: queued again (was {row.status})")
        else:
            click.echo(f"{printable(key)}: still {row.status}; left alone", err=True)
    click.echo(f"Replayed {replayed} of {len(chosen)}.")


@click.command()
@click.argument("destination", type=click.Path(dir_okay=False, path_type=Path))
@config_option
def backup(destination: Path, config_file: Path | None) -> None:
    """Copy the SQLite database, consistently, to DESTINATION while the service runs.

    The copy holds every store (deliveries, audit log, suggestion journal, lessons and their
    vectors) as of one moment: SQLite's online backup, which writers do not have to stop
    for. Copying the file with cp while the service writes can give a torn copy; the queue
    file needs no backup (workers re-queue what the delivery log holds). A PostgreSQL
    database is backed up with pg_dump instead (see the README). Restore: stop the service,
    put the copy in place of the database file, start it.

    \b
    Example:
        hindsight backup /var/backups/hindsight-$(date +%F).db
    """
    import sqlite3

    config = config_from(config_file)
    if not isinstance(config.db, Path):
        raise click.ClickException(
            f"the database is PostgreSQL ({config.db}): back it up with pg_dump, e.g."
            " pg_dump --format=custom --file hindsight.dump postgresql://user@host/database"
        )
    require_database(config.db, "there is nothing to back up yet")
    if destination.exists():
        raise click.ClickException(f"{destination} exists: name a new file for the copy")
    if not destination.parent.is_dir():
        raise click.ClickException(f"no folder {destination.parent}: create it first")
    source = sqlite3.connect(config.db, timeout=30)
    target = sqlite3.connect(destination)
    try:
        # In one step: one read transaction, which in WAL mode no writer waits for (a copy in
        # steps starts over whenever another connection writes, so may never finish).
        source.backup(target)
        (check,) = target.execute("PRAGMA quick_check").fetchone()
    except sqlite3.Error as error:
        target.close()
        destination.unlink(missing_ok=True)
        raise click.ClickException(f"the backup of {config.db} failed: {error}") from None
    finally:
        source.close()
    target.close()
    if check != "ok":
        raise click.ClickException(f"the copy at {destination} fails its check: {check}")
    size = destination.stat().st_size
    echo_line(f"Backed up {config.db} to {destination} ({size / 1e6:.1f} MB, checked).")


def _queue(runtime: Runtime) -> DeliveryQueue:
    try:
        return build_delivery_queue(runtime)
    except QueueNotConfigured as exc:
        raise click.ClickException(str(exc)) from None


def _summary(row: Delivery) -> dict[str, Any]:
    return {
        "key": row.key,
        "event": row.event,
        "issue": row.issue_key or row.subject,
        "status": row.status,
        "attempts": row.attempts,
        "auth": row.auth,
        "received": _time(row.received_at),
        "finished": _time(row.finished_at) if row.finished_at else None,
        "next_attempt": _time(row.next_attempt_at) if row.next_attempt_at else None,
    }


def _time(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


COMMANDS: list[click.Command] = [serve, worker, deliveries, backup]
