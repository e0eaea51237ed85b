"""Action items as records: text, owner, due date, status, and where they came from.

Items are read from a retrospective's action-item lessons when it is ingested (owner, due
date and done-ness parsed by `kb.readers.actions`), once per lesson: a re-ingest never
resets what an editor or Jira changed since. Editors add more on the web. "Create in Jira"
keeps its idempotency key and the issue key here (see `claim_jira_push`); the Jira side lives in
`plugin.lessons.actions`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from kb.curation import CurationError
from kb.engine import SQLConnection
from kb.errors import KnowledgeBaseError
from kb.readers.actions import parse_action

if TYPE_CHECKING:
    from kb.store import LessonStore

STATUSES = ("open", "in_progress", "done", "dropped")
OPEN_STATUSES = ("open", "in_progress")
MAX_TEXT_CHARS = 2_000
MAX_OWNER_CHARS = 100
JIRA_LABEL_PREFIX = "hindsight-action-"
PUSH_LEASE = dt.timedelta(minutes=2)
_PROJECT = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,19}")


class ActionItemNotFound(KnowledgeBaseError):
    """No action item has the requested id."""


class JiraPushBusy(KnowledgeBaseError):
    """Another "Create in Jira" of this item is running; try again in a minute."""


@dataclass(frozen=True)
class ActionItem:
    """One action item and where it came from."""

    id: str
    text: str
    owner: str | None
    due: str | None
    status: str
    lesson_id: str | None
    source_uri: str | None
    project: str | None
    origin: str  # ingest | web
    created_at: str
    created_by: str
    updated_at: str
    updated_by: str
    jira_key: str | None
    jira_request: str | None
    jira_plan: str | None

    def overdue(self, today: dt.date) -> bool:
        return (
            self.status in OPEN_STATUSES and self.due is not None and self.due < today.isoformat()
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def item_id_for_lesson(lesson_id: str) -> str:
    """The stable id of the action item read from a lesson (the same on every re-ingest)."""
    return "A" + hashlib.sha256(lesson_id.encode()).hexdigest()[:12]


def clean_item(
    text: str, owner: str | None, due: str | None, project: str | None
) -> tuple[str, str | None, str | None, str | None]:
    """Checked fields of an item; CurationError names the field and what it accepts."""
    text = " ".join(str(text or "").split())
    if not text:
        raise CurationError("text: say what is to be done")
    if len(text) > MAX_TEXT_CHARS:
        raise CurationError(f"text: at most {MAX_TEXT_CHARS:,} characters")
    owner = " ".join(str(owner or "").split()) or None
    if owner and len(owner) > MAX_OWNER_CHARS:
        raise CurationError(f"owner: at most {MAX_OWNER_CHARS} characters")
    due = str(due or "").strip() or None
    if due is not None:
        try:
            due = dt.date.fromisoformat(due).isoformat()
        except ValueError:
            raise CurationError(f"due: {due[:20]!r} is not a date; write YYYY-MM-DD") from None
    project = str(project or "").strip() or None
    if project is not None and not _PROJECT.fullmatch(project):
        raise CurationError(f"project: {project[:20]!r} is not a Jira project key (e.g. OPS)")
    return text, owner, due, project.upper() if project else None


class ActionItems:
    """The action items of one `LessonStore` (reach them as `store.actions`)."""

    def __init__(self, store: LessonStore) -> None:
        self.store = store

    # ------------------------------------------------------------------ reading

    def get(self, item_id: str) -> ActionItem:
        found = self._select("WHERE id = ?", (item_id,))
        if not found:
            raise ActionItemNotFound(f"no action item has id {item_id!r}")
        return found[0]

    def by_jira_key(self, key: str) -> ActionItem | None:
        found = self._select("WHERE jira_key = ?", (key,))
        return found[0] if found else None

    def for_lesson(self, lesson_id: str) -> list[ActionItem]:
        return self._select("WHERE lesson_id = ? ORDER BY created_at, id", (lesson_id,))

    def list(
        self,
        *,
        project: str | None = None,
        statuses: Iterable[str] = STATUSES,
        overdue_only: bool = False,
        limit: int = 500,
        offset: int = 0,
    ) -> list[ActionItem]:
        """Items by status and project, the most pressing first (overdue, then by due date);
        `offset` skips that many of them (a page of the list)."""
        where, args = self._where(project, statuses, overdue_only)
        return self._select(
            f"{where} ORDER BY due IS NULL, due, created_at, id LIMIT ? OFFSET ?",
            (*args, limit, offset),
        )

    def count(
        self,
        *,
        project: str | None = None,
        statuses: Iterable[str] = STATUSES,
        overdue_only: bool = False,
    ) -> int:
        """How many items `list` would give with no limit (the same filters)."""
        where, args = self._where(project, statuses, overdue_only)
        with self.store.db.read() as conn:
            (total,) = conn.execute(f"SELECT count(*) FROM action_items {where}", args).fetchone()
        return int(total)

    def _where(
        self, project: str | None, statuses: Iterable[str], overdue_only: bool
    ) -> tuple[str, tuple[Any, ...]]:
        """The WHERE clause (and its arguments) of `list` and `count`."""
        wanted = [s for s in statuses if s in STATUSES]
        where = [f"status IN ({','.join('?' * len(wanted))})"]
        args: list[Any] = list(wanted)
        if project:
            where.append(self.store.engine.nocase_equals("project"))
            args.append(project)
        if overdue_only:
            where.append("due IS NOT NULL AND due < ?")
            args.append(self.today().isoformat())
        return "WHERE " + " AND ".join(where), tuple(args)

    def open_action_items(
        self, project: str | None = None, *, overdue_only: bool = False, limit: int = 500
    ) -> list[ActionItem]:
        """Open and in-progress items (of `project`), overdue ones only if asked, due first."""
        return self.list(
            project=project, statuses=OPEN_STATUSES, overdue_only=overdue_only, limit=limit
        )

    def counts_by_source(self, source_uris: Iterable[str]) -> dict[str, tuple[int, int]]:
        """(all, open) action items of each retrospective (by source uri) that has any."""
        uris = list(dict.fromkeys(source_uris))
        found: dict[str, tuple[int, int]] = {}
        marks_open = ",".join("?" * len(OPEN_STATUSES))
        with self.store.db.read() as conn:
            for start in range(0, len(uris), 500):
                part = uris[start : start + 500]
                for uri, total, still_open in conn.execute(
                    "SELECT source_uri, count(*),"
                    f" sum(CASE WHEN status IN ({marks_open}) THEN 1 ELSE 0 END)"
                    f" FROM action_items WHERE source_uri IN ({','.join('?' * len(part))})"
                    " GROUP BY source_uri",
                    (*OPEN_STATUSES, *part),
                ):
                    found[uri] = (int(total), int(still_open or 0))
        return found

    def today(self) -> dt.date:
        return self.store.clock.now().astimezone(dt.UTC).date()

    # ------------------------------------------------------------------ writing

    def add(
        self,
        actor: str,
        *,
        text: str,
        owner: str | None = None,
        due: str | None = None,
        project: str | None = None,
        lesson_id: str | None = None,
    ) -> ActionItem:
        """Add an item on the web, from a lesson (its retrospective and project) or alone."""
        text, owner, due, project = clean_item(text, owner, due, project)
        source_uri = None
        if lesson_id:
            lesson = self.store.curation._current(lesson_id)  # LessonNotFoundError if unknown
            source_uri = lesson["source_uri"]
            project = project or lesson["project"]
        item_id = "A" + secrets.token_hex(6)
        now = self.store._now()
        with self.store._write(bump=False) as conn:
            conn.execute(
                "INSERT INTO action_items (id, text, owner, due, status, lesson_id, source_uri,"
                " project, origin, created_at, created_by, updated_at, updated_by)"
                " VALUES (?, ?, ?, ?, 'open', ?, ?, ?, 'web', ?, ?, ?, ?)",
                (item_id, text, owner, due, lesson_id, source_uri, project, now, actor, now, actor),
            )
        return self.get(item_id)

    def set_status(self, item_id: str, status: str, actor: str) -> ActionItem:
        """Move an item to `status`; returns it (unchanged when it already was)."""
        if status not in STATUSES:
            raise CurationError(f"status: {status[:20]!r}; use one of {', '.join(STATUSES)}")
        with self.store._write(bump=False) as conn:
            self._require(conn, item_id)
            conn.execute(
                "UPDATE action_items SET status = ?, updated_at = ?, updated_by = ?"
                " WHERE id = ? AND status != ?",
                (status, self.store._now(), actor, item_id, status),
            )
        return self.get(item_id)

    def record_from_lessons(
        self, conn: SQLConnection, rows: Iterable[Mapping[str, Any]], source_uri: str
    ) -> int:
        """Create the items of newly ingested action lessons (inside the ingest transaction).

        An item that exists is left as it is: its status and Jira link belong to the web and
        to Jira now. Returns how many were created.
        """
        now = self.store._now()
        created = 0
        for row in rows:
            if row["kind"] != "action" or row.get("status", "active") != "active":
                continue
            draft = parse_action(row["text"], checkbox=(row["metadata"] or {}).get("checkbox"))
            cursor = conn.execute(
                "INSERT INTO action_items (id, text, owner, due, status, lesson_id, source_uri,"
                " project, origin, created_at, created_by, updated_at, updated_by)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'ingest', ?, 'ingest', ?, 'ingest')"
                " ON CONFLICT DO NOTHING",
                (
                    item_id_for_lesson(row["id"]),
                    draft.text[:MAX_TEXT_CHARS],
                    draft.owner,
                    draft.due,
                    "done" if draft.done else "open",
                    row["id"],
                    source_uri,
                    row["project"],
                    now,
                    now,
                ),
            )
            created += cursor.rowcount
        return created

    # ------------------------------------------------------------------ Jira link

    def claim_jira_push(self, item_id: str) -> ActionItem:
        """Start "Create in Jira": store the idempotency key, take a short lease.

        Returns the item with its `jira_request` key (and `jira_key` when an issue already
        exists: then there is nothing to create). Raises JiraPushBusy while another push of
        the same item holds the lease, so two clicks never create two issues.
        """
        now = self.store.clock.now().astimezone(dt.UTC)
        with self.store._write(bump=False) as conn:
            row = self._require(conn, item_id)
            jira_key, request, lease = row
            if jira_key is None:
                if lease is not None and dt.datetime.fromisoformat(lease) > now:
                    raise JiraPushBusy(
                        f"action item {item_id} is being created in Jira right now; reload in a"
                        " minute"
                    )
                conn.execute(
                    "UPDATE action_items SET jira_request = ?, jira_lease = ? WHERE id = ?",
                    (
                        request or JIRA_LABEL_PREFIX + item_id.lower(),
                        (now + PUSH_LEASE).isoformat(timespec="seconds"),
                        item_id,
                    ),
                )
        return self.get(item_id)

    def record_jira_issue(self, item_id: str, key: str) -> ActionItem:
        """The issue exists: keep its key (the first one recorded wins) and end the lease."""
        with self.store._write(bump=False) as conn:
            conn.execute(
                "UPDATE action_items SET jira_key = coalesce(jira_key, ?), jira_lease = NULL,"
                " jira_plan = NULL WHERE id = ?",
                (key, item_id),
            )
        return self.get(item_id)

    def record_jira_plan(self, item_id: str, plan: Mapping[str, Any]) -> ActionItem:
        """Report-only mode: keep what would have been created, end the lease."""
        with self.store._write(bump=False) as conn:
            conn.execute(
                "UPDATE action_items SET jira_plan = ?, jira_lease = NULL WHERE id = ?",
                (json.dumps(plan, ensure_ascii=False, sort_keys=True), item_id),
            )
        return self.get(item_id)

    def release_jira_push(self, item_id: str) -> None:
        """The push failed: end the lease so it may be tried again (the key stays)."""
        with self.store._write(bump=False) as conn:
            conn.execute("UPDATE action_items SET jira_lease = NULL WHERE id = ?", (item_id,))

    # ------------------------------------------------------------------ internals

    @staticmethod
    def _require(conn: SQLConnection, item_id: str) -> tuple[Any, ...]:
        row = conn.execute(
            "SELECT jira_key, jira_request, jira_lease FROM action_items WHERE id = ?", (item_id,)
        ).fetchone()
        if row is None:
            raise ActionItemNotFound(f"no action item has id {item_id!r}")
        return tuple(row)

    def _select(self, where: str, args: tuple[Any, ...]) -> list[ActionItem]:
        with self.store.db.read() as conn:
            cursor = conn.execute(
                "SELECT id, text, owner, due, status, lesson_id, source_uri, project, origin,"
                " created_at, created_by, updated_at, updated_by, jira_key, jira_request,"
                f" jira_plan FROM action_items {where}",
                args,
            )
            return [ActionItem(*row) for row in cursor.fetchall()]
