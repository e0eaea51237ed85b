"""Curating lessons: add, edit, archive and merge, each change kept as a revision.

An editor's change is stored twice, in one transaction: applied to the lesson row (and its
keyword index and vectors), and kept in `lesson_curation` under the lesson's stable id, so the
next ingest of the same retrospective applies it again instead of undoing it. Every change
appends a `Revision` (who, when, what, the fields before and after) that the lesson's page shows.

An archived or merged lesson keeps its row and its page but leaves the keyword index and the
vectors: search and suggestions no longer return it. An edit re-embeds only the edited lesson,
and only when its title or text changed.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from kb.curation_records import (
    EDITABLE,
    MAX_TITLE_CHARS,
    WEB_SOURCE_PREFIX,
    CurationError,
    CurationState,
    Retrospective,
    Revision,
    StaleEditError,
    clean_actor,
    clean_fields,
    clean_note,
)
from kb.engine import SQLConnection
from kb.errors import LessonNotFoundError

if TYPE_CHECKING:
    from kb.records import Lesson
    from kb.store import LessonStore


class LessonCuration:
    """The curation methods of one `LessonStore` (reach it as `store.curation`)."""

    def __init__(self, store: LessonStore) -> None:
        self.store = store

    # ------------------------------------------------------------------ reading

    def state(self, lesson_id: str) -> CurationState:
        with self.store.db.read() as conn:
            row = conn.execute(
                "SELECT l.status, c.merged_into, l.added_by FROM lessons l"
                " LEFT JOIN lesson_curation c ON c.lesson_id = l.id WHERE l.id = ?",
                (lesson_id,),
            ).fetchone()
            if row is None:
                raise LessonNotFoundError(f"no lesson has id {lesson_id!r}")
            revision = self._revision(conn, lesson_id)
        return CurationState(lesson_id, row[0], row[1], row[2], revision)

    def history(self, lesson_id: str) -> list[Revision]:
        """The lesson's recorded changes, newest first."""
        with self.store.db.read() as conn:
            rows = conn.execute(
                "SELECT seq, lesson_id, at, actor, action, before, after, note"
                " FROM lesson_revisions WHERE lesson_id = ? ORDER BY seq DESC",
                (lesson_id,),
            ).fetchall()
        return [
            Revision(s, i, at, who, what, json.loads(b), json.loads(a), n)
            for s, i, at, who, what, b, a, n in rows
        ]

    def retrospectives(self, limit: int = 500) -> list[Retrospective]:
        """Retrospectives to add a lesson to, most recently ingested first."""
        with self.store.db.read() as conn:
            rows = conn.execute(
                "SELECT uri, title, lesson_count FROM sources"
                " ORDER BY ingested_at DESC, uri LIMIT ?",
                (limit,),
            ).fetchall()
        return [Retrospective(uri, title or uri, count) for uri, title, count in rows]

    def merged_from(self, lesson_id: str) -> list[str]:
        """Ids of the lessons merged into this one."""
        with self.store.db.read() as conn:
            return [
                i
                for (i,) in conn.execute(
                    "SELECT lesson_id FROM lesson_curation WHERE merged_into = ? ORDER BY 1",
                    (lesson_id,),
                )
            ]

    # ------------------------------------------------------------------ ingest hook

    def apply_to_rows(self, rows: Sequence[dict[str, Any]]) -> None:
        """Apply stored edits, archives and merges to freshly parsed lesson rows (in place).

        Called by the store before it embeds and writes a source, so an edit survives the
        next ingest of its retrospective for as long as the lesson keeps its id.
        """
        ids = [row["id"] for row in rows]
        found: dict[str, tuple[str, str]] = {}
        with self.store.db.read() as conn:
            for start in range(0, len(ids), 500):
                part = ids[start : start + 500]
                for lesson_id, fields, status in conn.execute(
                    "SELECT lesson_id, fields, status FROM lesson_curation"
                    f" WHERE lesson_id IN ({','.join('?' * len(part))})",
                    part,
                ):
                    found[lesson_id] = (fields, status)
        from kb.store import embed_hash

        for row in rows:
            row.setdefault("status", "active")
            if row["id"] not in found:
                continue
            fields, status = found[row["id"]]
            row.update(json.loads(fields))
            row["status"] = status
            row["embed_hash"] = embed_hash(row["title"], row["text"])

    # ------------------------------------------------------------------ changes

    def add(
        self,
        actor: str,
        *,
        text: str,
        title: str = "",
        kind: str = "lesson",
        project: str | None = None,
        tags: Sequence[str] | str = (),
        source_uri: str | None = None,
        new_retrospective: str | None = None,
    ) -> Lesson:
        """Add a lesson to the retrospective `source_uri`, or to a new one titled so.

        A lesson added here survives re-ingests of its retrospective (they replace only the
        lessons read from the file).
        """
        actor = clean_actor(actor)
        fields = clean_fields(
            {"text": text, "title": title, "kind": kind, "project": project, "tags": tags}
        )
        if bool(source_uri) == bool((new_retrospective or "").strip()):
            raise CurationError(
                "choose the retrospective the lesson belongs to, or name a new one (not both)"
            )
        store = self.store
        now = store._now()
        lesson_id = "W" + secrets.token_hex(8)
        row = {
            **fields,
            "id": lesson_id,
            "date": now[:10],
            "section": "",
            "votes": 0,
            "url": None,
            "metadata": {},
            "ingested_at": now,
            "status": "active",
            "added_by": actor,
            "line": None,
        }
        from kb.store import embed_hash

        row["embed_hash"] = embed_hash(row["title"], row["text"])
        vectors = store._embed_rows([row]) if store.embedder is not None else {}
        model = store.embedder.name if store.embedder is not None else None
        with store._write() as conn:
            if source_uri:
                source = conn.execute(
                    "SELECT title FROM sources WHERE uri = ?", (source_uri,)
                ).fetchone()
                if source is None:
                    raise CurationError(
                        f"no retrospective {source_uri!r}; pick one from the list or name a new one"
                    )
                last = conn.execute(
                    "SELECT source, position FROM lessons WHERE source_uri = ?"
                    " ORDER BY position DESC LIMIT 1",
                    (source_uri,),
                ).fetchone()
                row["source"] = last[0] if last else source_uri
                row["position"] = (last[1] if last else -1) + 1
                row["source_uri"] = source_uri
                conn.execute(
                    "UPDATE sources SET lesson_count = lesson_count + 1 WHERE uri = ?",
                    (source_uri,),
                )
            else:
                retro_title = " ".join(str(new_retrospective).split())[:MAX_TITLE_CHARS]
                uri = WEB_SOURCE_PREFIX + secrets.token_hex(8)
                conn.execute(
                    "INSERT INTO sources (uri, origin, format, content_hash, title,"
                    " lesson_count, metadata, ingested_at) VALUES (?, 'web', 'web', '', ?, 1,"
                    " ?, ?)",
                    (uri, retro_title, json.dumps({"created_by": actor}), now),
                )
                row.update(source_uri=uri, source=uri, position=0)
            if vectors and model is not None and store._meta("embed_model") is None:
                store._set_meta(conn, "embed_model", model)
            store._insert_lesson(conn, row, vectors.get(row["embed_hash"]), model)
            self._record(conn, lesson_id, actor, "add", {}, self._visible(row), "", now)
        return store.get(lesson_id)

    def edit(
        self,
        lesson_id: str,
        actor: str,
        changes: Mapping[str, Any],
        *,
        expected_revision: int | None = None,
        note: str = "",
    ) -> Lesson:
        """Change a lesson's editable fields; only a changed title or text is re-embedded.

        `expected_revision` (the revision the editor saw) refuses an edit made over someone
        else's newer change with `StaleEditError`. Nothing changed: nothing is recorded.
        """
        actor, note = clean_actor(actor), clean_note(note)
        fields = clean_fields(changes)
        store = self.store
        current = self._current(lesson_id)
        changed = {k: v for k, v in fields.items() if current[k] != v}
        if not changed:
            return store.get(lesson_id)
        after_row = {**current, **changed}
        from kb.store import embed_hash

        new_hash = embed_hash(after_row["title"], after_row["text"])
        vectors: dict[str, list[bytes]] = {}
        if (
            store.embedder is not None
            and current["status"] == "active"
            and new_hash != current["embed_hash"]
        ):
            vectors = store._embed_rows([{**after_row, "embed_hash": new_hash}])
        now = store._now()
        with store._write() as conn:
            self._check_revision(conn, lesson_id, expected_revision)
            fresh = self._row(conn, lesson_id)
            if {k: fresh[k] for k in EDITABLE} != {k: current[k] for k in EDITABLE}:
                raise StaleEditError(
                    "the lesson changed while this edit was prepared; reload it and edit again"
                )
            conn.execute(
                "UPDATE lessons SET title = ?, text = ?, kind = ?, project = ?, tags = ?,"
                " embed_hash = ? WHERE pk = ?",
                (
                    after_row["title"],
                    after_row["text"],
                    after_row["kind"],
                    after_row["project"],
                    json.dumps(after_row["tags"], ensure_ascii=False),
                    new_hash,
                    current["pk"],
                ),
            )
            keep = vectors.get(new_hash)
            if keep is None and new_hash == current["embed_hash"]:
                keep = [
                    blob
                    for (blob,) in conn.execute(
                        "SELECT vector FROM chunks WHERE lesson_pk = ? ORDER BY seq",
                        (current["pk"],),
                    )
                ]
            store._unindex_lessons(conn, [current["pk"]])
            model = (
                store.embedder.name if store.embedder is not None else store._meta("embed_model")
            )
            store._index_lesson(conn, current["pk"], after_row, keep or None, model)
            self._remember(conn, lesson_id, actor, now, fields=changed)
            before = {k: current[k] for k in changed}
            self._record(conn, lesson_id, actor, "edit", before, changed, note, now)
        return store.get(lesson_id)

    def archive(self, lesson_id: str, actor: str, *, note: str = "") -> CurationState:
        """Take a lesson out of search and suggestions; its page stays, marked archived."""
        return self._set_status(lesson_id, actor, "archived", "archive", note)

    def restore(self, lesson_id: str, actor: str, *, note: str = "") -> CurationState:
        """Bring an archived lesson back into search and suggestions (re-embedded if needed)."""
        return self._set_status(lesson_id, actor, "active", "restore", note)

    def merge(self, lesson_id: str, into: str, actor: str, *, note: str = "") -> CurationState:
        """Merge duplicate `lesson_id` into `into`: the duplicate leaves search and its page
        points to `into`. Moving its feedback is the caller's (the journal is not the kb's)."""
        actor, note = clean_actor(actor), clean_note(note)
        if lesson_id == into:
            raise CurationError("a lesson cannot be merged into itself; pick its duplicate")
        target = self._current(into)
        if target["status"] != "active":
            raise CurationError(
                f"lesson {into!r} is {target['status']}; merge into an active lesson"
            )
        current = self._current(lesson_id)
        if current["status"] == "merged":
            raise CurationError(f"lesson {lesson_id!r} is already merged")
        now = self.store._now()
        with self.store._write() as conn:
            conn.execute("UPDATE lessons SET status = 'merged' WHERE pk = ?", (current["pk"],))
            self.store._unindex_lessons(conn, [current["pk"]])
            self.store._index_lesson(
                conn, current["pk"], {**current, "status": "merged"}, None, None
            )
            self._remember(conn, lesson_id, actor, now, status="merged", merged_into=into)
            before = {"status": current["status"]}
            self._record(
                conn,
                lesson_id,
                actor,
                "merge",
                before,
                {"status": "merged", "into": into},
                note,
                now,
            )
            self._record(conn, into, actor, "absorb", {}, {"merged": lesson_id}, note, now)
        return self.state(lesson_id)

    # ------------------------------------------------------------------ internals

    def _set_status(
        self, lesson_id: str, actor: str, status: str, action: str, note: str
    ) -> CurationState:
        actor, note = clean_actor(actor), clean_note(note)
        store = self.store
        current = self._current(lesson_id)
        if current["status"] == "merged":
            raise CurationError(
                f"lesson {lesson_id!r} was merged; edit the lesson it was merged into"
            )
        if current["status"] == status:
            return self.state(lesson_id)
        vectors: dict[str, list[bytes]] = {}
        if status == "active" and store.embedder is not None:
            vectors = store._embed_rows([current])
        now = store._now()
        model = store.embedder.name if store.embedder is not None else None
        with store._write() as conn:
            conn.execute("UPDATE lessons SET status = ? WHERE pk = ?", (status, current["pk"]))
            store._unindex_lessons(conn, [current["pk"]])
            store._index_lesson(
                conn,
                current["pk"],
                {**current, "status": status},
                vectors.get(current["embed_hash"]),
                model,
            )
            self._remember(conn, lesson_id, actor, now, status=status)
            self._record(
                conn,
                lesson_id,
                actor,
                action,
                {"status": current["status"]},
                {"status": status},
                note,
                now,
            )
        return self.state(lesson_id)

    def _current(self, lesson_id: str) -> dict[str, Any]:
        with self.store.db.read() as conn:
            return self._row(conn, lesson_id)

    @staticmethod
    def _row(conn: SQLConnection, lesson_id: str) -> dict[str, Any]:
        cursor = conn.execute("SELECT * FROM lessons WHERE id = ?", (lesson_id,))
        names = [d[0] for d in cursor.description]
        found = cursor.fetchone()
        if found is None:
            raise LessonNotFoundError(f"no lesson has id {lesson_id!r}")
        row = dict(zip(names, found, strict=True))
        row["tags"] = json.loads(row["tags"])
        return row

    @staticmethod
    def _revision(conn: SQLConnection, lesson_id: str) -> int:
        found = conn.execute(
            "SELECT max(seq) FROM lesson_revisions WHERE lesson_id = ?", (lesson_id,)
        ).fetchone()[0]
        return int(found or 0)

    def _check_revision(self, conn: SQLConnection, lesson_id: str, expected: int | None) -> None:
        if expected is not None and self._revision(conn, lesson_id) != expected:
            raise StaleEditError(
                "someone changed this lesson after you opened it; reload it, check their "
                "change in the history, and edit again"
            )

    @staticmethod
    def _visible(row: Mapping[str, Any]) -> dict[str, Any]:
        return {k: row[k] for k in EDITABLE} | {"source": row["source_uri"]}

    @staticmethod
    def _remember(
        conn: SQLConnection,
        lesson_id: str,
        actor: str,
        now: str,
        *,
        fields: Mapping[str, Any] | None = None,
        status: str | None = None,
        merged_into: str | None = None,
    ) -> None:
        """Keep the change under the lesson's id, so a re-ingest applies it again."""
        row = conn.execute(
            "SELECT fields, status, merged_into FROM lesson_curation WHERE lesson_id = ?",
            (lesson_id,),
        ).fetchone()
        stored = json.loads(row[0]) if row else {}
        stored.update(fields or {})
        conn.execute(
            "INSERT INTO lesson_curation (lesson_id, fields, status, merged_into, updated_at,"
            " updated_by) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(lesson_id) DO UPDATE SET"
            " fields = excluded.fields, status = excluded.status,"
            " merged_into = excluded.merged_into, updated_at = excluded.updated_at,"
            " updated_by = excluded.updated_by",
            (
                lesson_id,
                json.dumps(stored, ensure_ascii=False, sort_keys=True),
                status or (row[1] if row else "active"),
                merged_into if merged_into is not None else (row[2] if row else None),
                now,
                actor,
            ),
        )

    @staticmethod
    def _record(
        conn: SQLConnection,
        lesson_id: str,
        actor: str,
        action: str,
        before: Mapping[str, Any],
        after: Mapping[str, Any],
        note: str,
        now: str,
    ) -> None:
        conn.execute(
            "INSERT INTO lesson_revisions (lesson_id, at, actor, action, before, after, note)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                lesson_id,
                now,
                actor,
                action,
                json.dumps(before, ensure_ascii=False, sort_keys=True),
                json.dumps(after, ensure_ascii=False, sort_keys=True),
                note,
            ),
        )
