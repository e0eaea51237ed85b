"""Lessons commands: `hindsight demo` (the main job, end to end) and `hindsight seed-project`."""

from __future__ import annotations

import json
import logging
import tempfile
import threading
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from hindsight.commands.service import config_from, config_option, runtime_from
from hindsight.net import free_port
from hindsight.terminal import echo_line, printable
from hindsight.wiring import INSTALLERS, Config, ConfigError, Runtime, load_config
from plugin.events import JiraEvent
from plugin.jira.port import JiraPort
from plugin.jira.report_only import PlannedWrite, ReportOnlyJira
from plugin.jira.signature import SIGNATURE_HEADER, sign

# The demo's data ships inside the package (package data), so `hindsight demo` works from an
# installed wheel as well as from a checkout: retrospectives/, deliveries/ and policy.yaml.
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
DEMO_SECRET = "hindsight-demo-secret"  # signs the demo's own deliveries; never a real secret


def _post(url: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=120) as response:  # loopback only
        return json.loads(response.read())


def demo_config(db: Path, host: str, port: int, policy: Path) -> Config:
    """Report-only settings for the demo; the caller's environment cannot point it at a Jira."""
    return load_config(
        None,
        environ={},
        overrides={
            "db": db,
            "webhook_secret": [DEMO_SECRET],
            "public_url": f"http://{host}:{port}",
            "policy_file": policy,
            "log_level": "WARNING",
            "log_format": "text",
            "workers": 1,
        },
    )


class PlannedComments:
    """Keeps the report-only Jiras the handlers act on, so the demo can show what they would post.

    Installed before the handlers (they capture `runtime.jira_for` when installed), it wraps
    `jira_for`; `take()` returns the comments planned since the last call, in order.
    """

    def __init__(self) -> None:
        self._used: list[ReportOnlyJira] = []
        self._lock = threading.Lock()

    def install(self, runtime: Runtime) -> None:
        jira_for: Callable[[JiraEvent | None], JiraPort] = runtime.jira_for

        def recording(event: JiraEvent | None) -> JiraPort:
            jira = jira_for(event)
            if isinstance(jira, ReportOnlyJira):
                with self._lock:
                    self._used.append(jira)
            return jira

        runtime.jira_for = recording  # type: ignore[method-assign]

    def take(self) -> list[PlannedWrite]:
        with self._lock:
            used, self._used = self._used, []
        return [
            write
            for jira in used
            for write in jira.writes
            if write.operation in ("add_comment", "edit_comment")
        ]


def describe_comment(heading: str, body: str, *, indent: int = 33) -> list[str]:
    """The lines showing one planned comment: a heading, then its exact body, indented.

    Both are escaped for the terminal (the body quotes issue and lesson text); the body keeps its
    own line breaks, each line marked with `|` so it cannot pass for the demo's own output.
    """
    lines = [f"{'':{indent}}{printable(heading)}"]
    text = printable(body, multiline=True)
    lines.extend(f"{'':{indent + 2}}| {line}".rstrip() for line in text.splitlines() or [""])
    return lines


def describe_planned(write: PlannedWrite) -> list[str]:
    """A comment a handler planned on the report-only Jira, as `describe_comment` shows it."""
    verb = "comment on" if write.operation == "add_comment" else "edit comment on"
    body = str(write.arguments.get("body", ""))
    return describe_comment(f"Jira {verb} {write.key or '?'}:", body)


def describe_results(name: str, results: dict[str, dict[str, Any]]) -> list[str]:
    """Readable lines for one delivery's handler results (caller escapes them for the terminal)."""
    lines = []
    for handler, result in results.items():
        outcome, detail = result.get("outcome", "?"), result.get("detail", "")
        lines.append(f"    {handler:<18} {outcome:<9} {detail}")
        data = result.get("data") or {}
        for lesson in data.get("lessons", []) if handler.startswith("lessons.") else []:
            similarity = lesson.get("similarity")
            score = f" ({similarity:.0%} match)" if isinstance(similarity, float) else ""
            lines.append(f"{'':33}- {lesson.get('text') or lesson.get('title')}{score}")
            lines.append(f"{'':35}from: {lesson.get('title') or lesson.get('id')}")
    return lines or ["    (no handler for this event)"]


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface for the pages.")
@click.option("--port", default=0, type=int, help="Port for the pages (default: a free one).")
@click.option(
    "--dir",
    "workdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the demo's database (default: a new temporary folder).",
)
@click.option(
    "--examples",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=EXAMPLES,
    show_default=True,
    help="Folder with retrospectives/, deliveries/ and policy.yaml.",
)
@click.option("--no-serve", "--once", "once", is_flag=True, help="Stop after the replay.")
def demo(host: str, port: int, workdir: Path | None, examples: Path, once: bool) -> None:
    """Run Hindsight end to end on its examples, report-only, on this machine.

    Ingests the example retrospectives, starts the service on localhost without Jira (writes are
    reported, never made), replays the example deliveries signed with a demo secret, prints what
    Hindsight decided and suggested for each, and leaves the pages up until Ctrl-C.

    \b
    Example:
        hindsight demo
        hindsight demo --once --dir /tmp/hindsight-demo
    """
    from werkzeug.serving import make_server

    from hindsight.wiring import build_runtime
    from hindsight.wsgi import create_app
    from plugin.audit import open_audit_log
    from plugin.policy.render import action_text
    from webhooks.queue import build_delivery_queue, build_huey

    deliveries = sorted((examples / "deliveries").glob("*.json"))
    if not deliveries:
        raise click.ClickException(f"no example deliveries in {examples / 'deliveries'}")
    workdir = workdir or Path(tempfile.mkdtemp(prefix="hindsight-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port(host)
    try:
        config = demo_config(workdir / "hindsight.db", host, port, examples / "policy.yaml")
        planned = PlannedComments()
        runtime = build_runtime(config, installers=(planned.install, *INSTALLERS))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    store = runtime.lessons.store
    assert store is not None
    retros = examples / "retrospectives"
    click.echo("Hindsight demo (report-only: no Jira is configured, nothing is written to Jira)")
    click.echo(f"  database: {config.db}")
    if retros.is_dir():
        click.echo(f"  ingesting {retros} (the first run loads the embedding model) ...")
        report = store.ingest_paths([retros])
        click.echo(f"  {report.summary()}")
        for failed in report.errors:
            echo_line(f"  ! {failed.source}: {failed.error}", err=True)
    # The demo processes each delivery as it arrives (immediate queue), so results print in order.
    queue = build_delivery_queue(runtime, huey=build_huey(config.edge.queue_url, immediate=True))
    app = create_app(config, runtime, queue=queue)
    server = make_server(host, port, app, threaded=True)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request is noise here
    thread = threading.Thread(target=server.serve_forever, name="hindsight-demo", daemon=True)
    thread.start()
    base = f"http://{host}:{server.port}"
    audit = open_audit_log(config.policy.audit_db)
    click.echo(f"  service: {base} (webhooks at {base}/webhooks/jira)\n")
    try:
        for path in deliveries:
            body = path.read_bytes()
            key = f"demo-{path.stem}"
            event = json.loads(body).get("webhookEvent", "?")
            answer = _post(
                f"{base}/webhooks/jira",
                body,
                {
                    "Content-Type": "application/json",
                    SIGNATURE_HEADER: sign(body, DEMO_SECRET),
                    "X-Atlassian-Webhook-Identifier": key,
                },
            )
            row = runtime.deliveries.get(key)
            subject = (row.issue_key or row.subject) if row else ""
            echo_line(f"{path.name}: {event} {subject or ''} -> {answer.get('status')}")
            status = row.status if row else "unknown"
            if row and row.last_error:
                echo_line(f"    delivery {status}: {row.last_error}")
            for line in describe_results(path.name, row.handler_results() if row else {}):
                echo_line(line)
            for entry in audit.query(issue=row.issue_key) if row and row.issue_key else []:
                if entry.delivery == key:
                    echo_line(f"{'':33}{entry.rule}: {entry.outcome.upper()} {entry.summary}")
                    for reason in entry.reasons:
                        echo_line(f"{'':35}- {reason}")
                    for action in entry.actions:
                        echo_line(f"{'':35}> {action_text(action['kind'], action['detail'])}")
                        if action.get("body"):
                            heading = f"the comment on {row.issue_key}:"
                            for line in describe_comment(heading, action["body"], indent=37):
                                click.echo(line)  # escaped by describe_comment
            for write in planned.take():
                for line in describe_planned(write):
                    click.echo(line)  # escaped by describe_planned, line breaks on purpose
            click.echo("")
        click.echo("Pages:")
        click.echo(f"  search     {base}/lessons")
        click.echo(f"  dashboard  {base}/dashboard")
        click.echo(f"  audit      {base}/audit")
        click.echo(f"  API        {base}/api/lessons/search?q=database+migration")
        if once:
            return
        click.echo("\nThe pages stay up until Ctrl-C.")
        try:
            while thread.is_alive():
                thread.join(0.5)
        except KeyboardInterrupt:
            click.echo("stopping")
    finally:
        server.shutdown()


@click.command("seed-project")
@click.argument("project_key")
@click.option("--limit", type=click.IntRange(1, 50), help="Most lessons to list (default: policy).")
@config_option
def seed_project(project_key: str, limit: int | None, config_file: Path | None) -> None:
    """Create the "Lessons to apply" issue for a project, once.

    Picks the lessons closest to the project's name, description, category and type and creates
    one issue listing them (or an epic with sub-tasks, per the policy's suggestions.seed.mode).
    Running it again does nothing. Without Jira configured it prints what it would create.

    \b
    Example:
        hindsight seed-project PAY --limit 5
    """
    from plugin.jira.errors import JiraApiError
    from plugin.lessons.seed import SeedError

    runtime = runtime_from(config_from(config_file))
    jira = runtime.jira_for(None)
    try:
        outcome = runtime.lessons.seeder.seed(jira, project_key.upper(), limit=limit)
    except (JiraApiError, SeedError) as exc:
        raise click.ClickException(str(exc)) from None
    if outcome.action == "already-seeded":
        click.echo(f"{outcome.project_key} was already seeded: {outcome.issue_key}")
    elif outcome.action == "none":
        click.echo(f"no lesson matches {outcome.project_key}; nothing created")
    elif outcome.action == "disabled":
        click.echo("seeding is disabled in the policy file")
    else:
        verb = "would create" if runtime.jira is None else "created"
        click.echo(f"{verb} {outcome.issue_key} with {len(outcome.lessons)} lessons:")
        for lesson in outcome.lessons:
            title = printable(lesson.title or lesson.text[:80])
            click.echo(f"  - {title} ({lesson.similarity:.0%} match)")


COMMANDS: list[click.Command] = [demo, seed_project]
