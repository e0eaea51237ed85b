"""Reads for `LessonStore`: lessons by id or by filters, retrospectives and their summaries,
and the store's statistics. Statements that belong together run in one read transaction (one
snapshot), in SQL both engines run (`store.engine` spells the rest).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from kb.errors import InvalidQueryError, LessonNotFoundError
from kb.records import SORTS, Lesson, LessonPage, RetrospectiveSummary, StoreStats, retrospective_id

if TYPE_CHECKING:
    from kb.store import LessonStore


# ------------------------------------------------------------------ reading


def get(store: LessonStore, lesson_id: str) -> Lesson:
    """The lesson with this id; raises LessonNotFoundError."""
    found = select_lessons(store, "WHERE id = ?", (lesson_id,))
    if not found:
        raise LessonNotFoundError(f"no lesson has id {lesson_id!r}; check the id from search")
    return found[0]


def browse(
    store: LessonStore,
    *,
    project: str | None = None,
    tag: str | None = None,
    kind: str | None = None,
    since: str | dt.date | None = None,
    sort: str = "date",
    offset: int = 0,
    limit: int = 25,
) -> LessonPage:
    """Lessons chosen by filters alone, newest (or most voted) first, a page at a time.

    What a tag or project link lists. Counting and ordering are SQL over the filter
    columns' indexes; OFFSET reads past the skipped rows, so callers bound `offset`.
    """
    if sort not in SORTS:
        raise InvalidQueryError(f"unknown sort {sort!r}; use one of {', '.join(SORTS)}")
    filter_sql, args = lesson_filters(store, project, tag, kind, since)
    where = "WHERE status = 'active'" + (f" AND pk IN ({filter_sql})" if filter_sql else "")
    order = "votes DESC, " if sort == "votes" else ""
    with store.db.read() as conn:
        (total,) = conn.execute(f"SELECT count(*) FROM lessons {where}", args).fetchone()
        lessons = select_lessons(
            store,
            f"{where} ORDER BY {order}date IS NULL, date DESC, source_uri, position"
            " LIMIT ? OFFSET ?",
            (*args, limit, offset),
        )
    return LessonPage(lessons, int(total), offset, limit)


# ------------------------------------------------------------------ retrospectives


def retrospectives(
    store: LessonStore, *, project: str | None = None, offset: int = 0, limit: int = 50
) -> tuple[list[RetrospectiveSummary], int]:
    """Retrospectives newest first (by their lessons' latest date), a page, and the total.

    `project` keeps those with a lesson of that project (case-insensitive). One grouped
    query over the lessons' source index: its cost grows with the lessons it counts.
    """
    where, args = "", []
    if project:
        where = (
            "WHERE s.uri IN (SELECT source_uri FROM lessons"
            f" WHERE {store.engine.nocase_equals('project')} AND status = 'active')"
        )
        args = [project]
    with store.db.read() as conn:
        (total,) = conn.execute(f"SELECT count(*) FROM sources s {where}", args).fetchone()
        found = retrospective_summaries(store, where, args, limit=limit, offset=offset)
    return found, int(total)


def retrospective(store: LessonStore, retro_id: str) -> tuple[RetrospectiveSummary, list[Lesson]]:
    """A retrospective by its public id and its lessons in document order.

    Raises LessonNotFoundError when no ingested source has that id.
    """
    uri = retrospective_uri(store, retro_id)
    found = retrospective_summaries(store, "WHERE s.uri = ?", [uri], limit=1) if uri else []
    if not found:
        raise LessonNotFoundError(
            f"no retrospective has id {retro_id!r}; pick one from the retrospectives list"
        )
    assert uri is not None
    return found[0], select_lessons(
        store, "WHERE source_uri = ? AND status = 'active' ORDER BY position", (uri,)
    )


def retrospectives_by_id(store: LessonStore, ids: Iterable[str]) -> dict[str, RetrospectiveSummary]:
    """Summaries of the given retrospectives (unknown ids are left out)."""
    uris = [uri for uri in (retrospective_uri(store, i) for i in dict.fromkeys(ids)) if uri]
    if not uris:
        return {}
    marks = ",".join("?" * len(uris))
    summaries = retrospective_summaries(store, f"WHERE s.uri IN ({marks})", uris, limit=len(uris))
    return {summary.id: summary for summary in summaries}


def retrospective_uri(store: LessonStore, retro_id: str) -> str | None:
    """The internal uri of a public retrospective id, from a map rebuilt when the store
    changes (hashing every source uri: ~1 ms per thousand sources)."""
    with store.db.read() as conn:
        generation = store._meta("generation") or "0"
        known = store._retrospective_uris
        if known[0] != generation:
            uris = {
                retrospective_id(uri): uri for (uri,) in conn.execute("SELECT uri FROM sources")
            }
            known = store._retrospective_uris = (generation, uris)
    return known[1].get(retro_id)


def retrospective_summaries(
    store: LessonStore, where: str, args: Sequence[Any], *, limit: int, offset: int = 0
) -> list[RetrospectiveSummary]:
    author = store.engine.json_field("metadata", "author")
    with store.db.read() as conn:
        rows = conn.execute(
            "SELECT s.uri, s.title, s.format, s.metadata, s.ingested_at, count(l.pk),"
            f" max(l.date), max(l.url), {store.engine.joined_distinct('l.project')}"
            " FROM sources s LEFT JOIN lessons l"
            f" ON l.source_uri = s.uri AND l.status = 'active' {where}"
            " GROUP BY s.uri ORDER BY max(l.date) IS NULL, max(l.date) DESC, s.title"
            " LIMIT ? OFFSET ?",
            [*args, limit, offset],
        ).fetchall()
        uris = [row[0] for row in rows]
        kinds: dict[str, dict[str, int]] = {uri: {} for uri in uris}
        authors: dict[str, list[str]] = {uri: [] for uri in uris}
        for start in range(0, len(uris), 500):
            part = uris[start : start + 500]
            marks = ",".join("?" * len(part))
            for uri, kind, count in conn.execute(
                f"SELECT source_uri, kind, count(*) FROM lessons WHERE source_uri IN ({marks})"
                " AND status = 'active' GROUP BY source_uri, kind ORDER BY count(*) DESC",
                part,
            ):
                kinds[uri][kind] = count
            for uri, name in conn.execute(
                f"SELECT source_uri, {author} FROM lessons"
                f" WHERE source_uri IN ({marks}) AND status = 'active' AND {author} IS NOT NULL"
                f" GROUP BY source_uri, {author} ORDER BY min(position)",
                part,
            ):
                authors[uri].append(str(name))
    actions = store.actions.counts_by_source(uris)
    summaries = []
    for uri, title, fmt, metadata, ingested_at, count, date, url, projects in rows:
        meta = json.loads(metadata)
        participants = _people(meta.get("participants") or meta.get("attendees"))
        summaries.append(
            RetrospectiveSummary(
                id=retrospective_id(uri),
                title=title,
                url=url if url and url.startswith(("https://", "http://")) else None,
                date=date,
                projects=tuple(sorted(set((projects or "").split(",")) - {""})),
                team=_person(meta.get("team")),
                facilitator=_person(meta.get("facilitator")),
                author=_person(meta.get("author")),
                participants=participants or tuple(dict.fromkeys(authors[uri])),
                lessons=count,
                kinds=kinds[uri],
                format=fmt,
                ingested_at=ingested_at,
                action_items=actions.get(uri, (0, 0))[0],
                open_action_items=actions.get(uri, (0, 0))[1],
            )
        )
    return summaries


def select_lessons(store: LessonStore, where: str, args: tuple[Any, ...]) -> list[Lesson]:
    with store.db.read() as conn:
        cursor = conn.execute(f"SELECT * FROM lessons {where}", args)
        names = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    return [lesson_from_row(dict(zip(names, row, strict=True))) for row in rows]


def is_empty(store: LessonStore) -> bool:
    with store.db.read() as conn:
        return not conn.execute("SELECT EXISTS (SELECT 1 FROM lessons)").fetchone()[0]


def stats(store: LessonStore) -> StoreStats:
    with store.db.read() as conn:
        one = lambda sql, *a: conn.execute(sql, a).fetchone()[0]  # noqa: E731
        lessons = one("SELECT count(*) FROM lessons WHERE status = 'active'")
        model = store._meta("embed_model")
        embedded = one("SELECT count(DISTINCT lesson_pk) FROM chunks WHERE model = ?", model or "")
        return StoreStats(
            lessons=lessons,
            sources=one("SELECT count(*) FROM sources"),
            vectors=one("SELECT count(*) FROM chunks"),
            lessons_without_vectors=lessons - embedded,
            model=model,
            by_kind=dict(
                conn.execute(
                    "SELECT kind, count(*) FROM lessons GROUP BY kind ORDER BY 2 DESC"
                ).fetchall()
            ),
            by_project=dict(
                conn.execute(
                    "SELECT coalesce(project, ''), count(*) FROM lessons GROUP BY 1 ORDER BY 2 DESC"
                ).fetchall()
            ),
        )


def rows_by_pk(store: LessonStore, pks: list[int]) -> dict[int, dict[str, Any]]:
    """The lessons' rows by pk, 500 pks a statement: a statement takes at most 65,535
    parameters on PostgreSQL (SQLite's build sets its own), and `search --limit` has no cap."""
    found: dict[int, dict[str, Any]] = {}
    with store.db.read() as conn:
        for start in range(0, len(pks), 500):
            part = pks[start : start + 500]
            cursor = conn.execute(
                f"SELECT * FROM lessons WHERE pk IN ({','.join('?' * len(part))})", part
            )
            names = [d[0] for d in cursor.description]
            found.update((row[0], dict(zip(names, row, strict=True))) for row in cursor)
    return found


def lesson_filters(
    store: LessonStore,
    project: str | None,
    tag: str | None,
    kind: str | None,
    since: str | dt.date | None,
) -> tuple[str, list[Any]]:
    """SQL selecting the pks of lessons that pass the filters ('' when there are none)."""
    clauses: list[str] = []
    args: list[Any] = []
    if project:
        clauses.append(store.engine.nocase_equals("project"))
        args.append(project)
    if kind:
        clauses.append("kind = ?")
        args.append(kind)
    if since:
        try:
            day = since if isinstance(since, dt.date) else dt.date.fromisoformat(str(since))
        except ValueError:
            raise InvalidQueryError(
                f"since {since!r} is not a date; write it as YYYY-MM-DD"
            ) from None
        clauses.append("date >= ?")
        args.append(day.isoformat())
    if tag:
        clauses.append("pk IN (SELECT lesson_pk FROM lesson_tags WHERE tag = ?)")
        args.append(tag.lower())
    if not clauses:
        return "", []
    return "SELECT pk FROM lessons WHERE " + " AND ".join(clauses), args


def lesson_from_row(row: dict[str, Any]) -> Lesson:
    """The `Lesson` a row of the lessons table holds (the one mapping, for reads and hits)."""
    return Lesson(
        id=row["id"],
        title=row["title"],
        text=row["text"],
        kind=row["kind"],
        project=row["project"],
        tags=tuple(json.loads(row["tags"])),
        date=row["date"],
        source=row["source"],
        section=row["section"],
        votes=row["votes"],
        url=row["url"],
        ingested_at=row["ingested_at"],
        metadata=json.loads(row["metadata"]),
        retrospective_id=retrospective_id(row["source_uri"]),
    )


def _person(value: Any) -> str | None:
    """A front matter name (team, facilitator, author) as text; None when empty."""
    if isinstance(value, list | tuple):
        value = ", ".join(str(item) for item in value if item)
    return str(value).strip() or None if value not in (None, "") else None


def _people(value: Any) -> tuple[str, ...]:
    """Front matter participants, written as a YAML list or a comma-separated line."""
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list | tuple):
        return ()
    return tuple(dict.fromkeys(str(item).strip() for item in value if str(item).strip()))
