"""Knowledge-base commands: ingest, search, reindex and lesson (show one lesson)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from hindsight.commands.service import config_from, config_option, require_database
from hindsight.service_client import ServiceRefused, ServiceUnreachable, search_service
from hindsight.terminal import json_line, printable
from hindsight.wiring import KbOptions
from kb import LessonStore
from kb.embedding import load_embedder
from kb.errors import InvalidQueryError, KnowledgeBaseError
from kb.readers import EXTENSIONS, FORMATS
from kb.search import SearchSettings, check_query_length
from kb.store import MAX_FILE_BYTES, MODES

db_option = click.option(
    "--db",
    "db_path",
    metavar="PATH|URL",
    # Text, not click.Path: a path would fold postgresql://host/db into postgresql:/host/db.
    type=str,
    help="The knowledge-base database: a SQLite file or a postgresql:// URL (default: the db"
    " setting, else ./hindsight.db).",
)


def kb_options(config_file: Path | None, **overrides: object) -> KbOptions:
    """The knowledge base's options, loaded as every command loads its settings."""
    return config_from(config_file, **overrides).kb


HOW_TO_FILL = "run `hindsight ingest <folder of retrospectives>` (or `python3 dev.py demo`)"


def _refuse_empty(store: LessonStore, options: KbOptions) -> None:
    """An empty knowledge base says how to fill it, rather than "no lessons found"."""
    if store.is_empty():
        raise click.ClickException(f"the knowledge base at {options.db} is empty; {HOW_TO_FILL}")


@contextmanager
def _store(
    options: KbOptions, *, with_model: bool = True, read_only: bool = False
) -> Iterator[LessonStore]:
    if read_only:
        require_database(options.db, HOW_TO_FILL, db_option=True)
    try:
        if with_model and read_only:
            click.echo("loading the embedding model...", err=True)
        embedder = load_embedder(options.embed_model) if with_model else None
        store = LessonStore(options.db, embedder)
    except KnowledgeBaseError as error:
        raise click.ClickException(str(error)) from error
    try:
        yield store
    except KnowledgeBaseError as error:
        raise click.ClickException(str(error)) from error
    finally:
        store.close()


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=str))
@db_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", *FORMATS]),
    default="auto",
    show_default=True,
    help="Input format; auto goes by extension (.md, .csv Parabol, .jsonl).",
)
@click.option("--project", help="Project key for lessons whose source names none.")
@click.option("--prune", is_flag=True, help="Also remove lessons whose source file is gone.")
@click.option(
    "--max-file-bytes",
    type=click.IntRange(min=1),
    help="Refuse (without reading) any file larger than this"
    f" (default: the ingest_max_file_bytes setting, else {MAX_FILE_BYTES:,}).",
)
@config_option
def ingest(
    paths: tuple[str, ...],
    db_path: str | None,
    fmt: str,
    project: str | None,
    prune: bool,
    max_file_bytes: int | None,
    config_file: Path | None,
) -> None:
    """Read retrospectives and post-mortems (files or folders) into the knowledge base.

    Unchanged files are skipped; a changed file replaces its lessons. A file that cannot be
    read (malformed, or over the size limit) is reported and the others are still ingested;
    the exit status is then 1.

    \b
    Example:
        hindsight ingest retrospectives/
        hindsight ingest retro.csv --format parabol --project PAY --db team.db
    """
    options = kb_options(config_file, db=db_path, ingest_max_file_bytes=max_file_bytes)
    max_file_bytes = options.ingest_max_file_bytes
    with _store(options) as store:
        if sys.stderr.isatty():
            with click.progressbar(
                length=_count_files(paths), label="Ingesting", file=sys.stderr
            ) as bar:
                report = store.ingest_paths(
                    paths,
                    format=fmt,
                    project=project,
                    prune=prune,
                    on_progress=bar.update,
                    max_file_bytes=max_file_bytes,
                )
        else:
            report = store.ingest_paths(
                paths, format=fmt, project=project, prune=prune, max_file_bytes=max_file_bytes
            )
    for failure in report.errors:
        click.echo(f"error: {printable(failure.error)}", err=True)
    for outcome in report.outcomes:
        if outcome.status == "unchanged":
            click.echo(f"skipped {printable(outcome.source)}: unchanged since the last ingest")
    for skipped in _unsupported_files(paths, fmt, options.db):
        click.echo(f"skipped {printable(skipped)}: {_why_unsupported(fmt)}")
    click.echo(report.summary())
    if len(report.outcomes) == len(report.errors):
        raise click.ClickException(
            "no readable retrospective found in "
            + ", ".join(printable(p) for p in paths)
            + f"; give files or folders of {_supported_extensions(fmt)} files"
        )
    if report.errors:
        raise SystemExit(1)


def _supported_extensions(fmt: str) -> str:
    return ", ".join(sorted(ext for ext, name in EXTENSIONS.items() if fmt in ("auto", name)))


def _why_unsupported(fmt: str) -> str:
    if fmt == "auto":
        return f"unsupported extension (reads {_supported_extensions(fmt)})"
    return f"not a {fmt} file (--format {fmt} reads {_supported_extensions(fmt)})"


def _unsupported_files(paths: tuple[str, ...], fmt: str, db: object) -> list[str]:
    """The files inside the given folders that an ingest passes over for their extension.

    Hidden files and folders (a `.git`, an editor's swap file) are left out here as the ingest
    leaves them out, and so is the database itself (with its -wal and -shm files) when it lives
    in the folder: listing them would bury the skips a user can act on.
    """
    wanted = {ext for ext, name in EXTENSIONS.items() if fmt in ("auto", name)}
    own: set[Path] = set()
    if isinstance(db, Path):
        own = {Path(f"{db.resolve()}{suffix}") for suffix in ("", "-wal", "-shm", "-journal")}
    skipped: list[str] = []
    for given in paths:
        folder = Path(given)
        if not folder.is_dir():
            continue
        skipped.extend(
            str(p)
            for p in sorted(folder.rglob("*"))
            if p.is_file()
            and p.suffix.lower() not in wanted
            and p.resolve() not in own
            and not any(part.startswith(".") for part in p.relative_to(folder).parts)
        )
    return skipped


def _count_files(paths: tuple[str, ...]) -> int:
    """How many files an ingest of `paths` will visit, for the progress bar."""
    total = 0
    for given in paths:
        path = Path(given)
        if path.is_dir():
            total += sum(1 for p in path.rglob("*") if p.suffix.lower() in EXTENSIONS)
        else:
            total += 1
    return total


@click.command()
@click.argument("query")
@db_option
@click.option("--limit", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the hits as a JSON array.")
@click.option("--mode", type=click.Choice(MODES), default="hybrid", show_default=True)
@click.option("--project", help="Only lessons of this project.")
@click.option("--tag", help="Only lessons with this tag.")
@click.option(
    "--kind", help="Only lessons of this kind (went_well, went_wrong, lesson, action...)."
)
@click.option("--since", help="Only lessons dated on or after this day (YYYY-MM-DD).")
@click.option(
    "--local",
    is_flag=True,
    help="Search this machine's database even when a service (public_url) is configured.",
)
@config_option
def search(
    query: str,
    db_path: str | None,
    limit: int,
    as_json: bool,
    mode: str,
    project: str | None,
    tag: str | None,
    kind: str | None,
    since: str | None,
    local: bool,
    config_file: Path | None,
) -> None:
    """Find the lessons that best match QUERY (keyword + semantic, fused).

    QUERY may hold up to 2,000 characters (a longer one exits with status 2).

    When a running service is configured (public_url, with a web token if its pages need one)
    and no --db is given, the service answers: its model is loaded, so there is no wait for
    one here, and it lists only strong matches, as its pages do. Without an answer from it,
    or with --local, this process searches the database itself (loading the model first).

    Matched words are marked «like this» in the snippet; --json gives the spans as offsets.

    \b
    Example:
        hindsight search "database migration rollback"
        hindsight search "证书过期" --limit 3 --json
        hindsight search "friday deploy" --kind lesson --since 2024-01-01
        HINDSIGHT_PUBLIC_URL=https://hindsight.example.com hindsight search "rollback"
    """
    try:
        check_query_length(query, SearchSettings())
    except InvalidQueryError as error:
        raise click.BadParameter(str(error), param_hint="QUERY") from None
    options = kb_options(config_file, db=db_path)
    filters = {"project": project, "tag": tag, "kind": kind, "since": since}
    items = asked = None
    if options.service_url and not local and db_path is None and limit <= MAX_SERVICE_LIMIT:
        items = asked = _ask_service(options, query, {"limit": limit, "mode": mode, **filters})
    if items is None:
        with _store(options, with_model=mode != "keyword", read_only=True) as store:
            _refuse_empty(store, options)
            hits = store.search(query, limit=limit, mode=mode, **filters)
        items = [hit.to_dict() for hit in hits]
    if as_json:
        click.echo(json_line(items, indent=2))
        return
    if not items:
        click.echo("No lessons found." if asked is None else "No strong match.")
        return
    for number, item in enumerate(items, start=1):
        _echo_hit(number, item)


MAX_SERVICE_LIMIT = 100  # the JSON API's page size limit


def _ask_service(
    options: KbOptions, query: str, params: dict[str, str | int | None]
) -> list[dict[str, Any]] | None:
    """The running service's results, or None (after saying why) to search locally."""
    assert options.service_url is not None
    where = printable(options.service_url)
    try:
        return search_service(
            options.service_url, query, token=options.service_token, params=params
        )
    except ServiceRefused as error:
        raise click.ClickException(
            f"the service at {where} refused the search ({printable(str(error))}); fix that, or"
            " add --local to search this machine's database"
        ) from None
    except ServiceUnreachable as error:
        click.echo(
            f"the service at {where} did not answer ({printable(str(error))}); searching locally",
            err=True,
        )
        return None


def _echo_hit(number: int, item: dict[str, Any]) -> None:
    """One result, from its JSON form (the same from this process or from the service)."""
    where = " · ".join(str(item[k]) for k in ("project", "date", "kind") if item.get(k))
    found = ", ".join(f"{name} #{rank}" for name, rank in (item.get("found_by") or {}).items())
    cosine = item.get("similarity")
    similarity = f", cosine {cosine:.2f}" if isinstance(cosine, int | float) else ""
    score = item.get("score")
    scored = f"score {score:.4f}: " if isinstance(score, int | float) else ""
    section = f" § {item['section']}" if item.get("section") else ""
    click.echo(
        click.style(f"{number}. {printable(str(item.get('title', '')))}", bold=True)
        + f"  [{printable(str(item.get('id', '')))}]"
    )
    click.echo(f"   {printable(where)}  ({scored}{found}{similarity})")
    click.echo(f"   {printable(str(item.get('snippet_marked', '')))}")
    click.echo(f"   {printable(str(item.get('source', '')) + section)}")


@click.command()
@db_option
@config_option
def reindex(db_path: str | None, config_file: Path | None) -> None:
    """Embed every lesson again with the current model (the embed_model setting or the default).

    Needed after changing the model; also embeds lessons that have no vectors yet.

    \b
    Example:
        HINDSIGHT_EMBED_MODEL=/models/other hindsight reindex --db team.db
    """
    with _store(kb_options(config_file, db=db_path)) as store:
        stored = store.stored_model
        assert store.embedder is not None
        model = store.embedder.name
        done = store.reindex()
    was = f" (was {stored})" if stored and stored != model else ""
    click.echo(f"re-embedded {done} lessons with {model}{was}")


@click.command()
@click.argument("lesson_id")
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print the lesson as JSON.")
@config_option
def lesson(lesson_id: str, db_path: str | None, as_json: bool, config_file: Path | None) -> None:
    """Show one lesson by its id (as printed by search).

    \b
    Example:
        hindsight lesson L3f9a0c1d2e4b5a6
    """
    options = kb_options(config_file, db=db_path)
    with _store(options, with_model=False, read_only=True) as store:
        _refuse_empty(store, options)
        found = store.get(lesson_id)
    if as_json:
        click.echo(json_line(found.to_dict(), indent=2))
        return
    click.echo(click.style(printable(found.title), bold=True) + f"  [{printable(found.id)}]")
    for label, value in (
        ("kind", found.kind),
        ("project", found.project),
        ("date", found.date),
        ("tags", ", ".join(found.tags)),
        ("votes", found.votes or None),
        ("source", found.source + (f" § {found.section}" if found.section else "")),
        ("url", found.url),
    ):
        if value:
            click.echo(f"{label:>8}: {printable(value)}")
    click.echo("")
    click.echo(printable(found.text, multiline=True))


COMMANDS: list[click.Command] = [ingest, search, reindex, lesson]
