"""Screens: the fields a transition, the create screen or the edit screen offers, as Jira
describes them (the create screens kept for a while: they are asked for on every sub-task)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from plugin.jira.adapter.transport import API, JiraTransport
from plugin.jira.parse import status_from_json
from plugin.jira.port import ScreenField, Transition

META_PAGE = 100  # create meta pages (Cloud allows up to 200, Data Center defaults to 50)
SCREEN_CACHE_SIZE = 256  # (project, issue type) create screens kept
SCREEN_CACHE_SECONDS = 900.0  # a screen an admin fixed is seen within 15 minutes


def transitions(transport: JiraTransport, key: str) -> list[Transition]:
    """The transitions the service account may take on `key`, with their screens' fields."""
    path = f"{API}/issue/{key}/transitions"
    raw = transport.call(
        "GET", path, lambda: transport.client.transitions(key, expand="transitions.fields")
    )
    return [_transition_from_json(t) for t in raw]


def edit_screen(transport: JiraTransport, key: str) -> dict[str, ScreenField]:
    """Edit meta: the fields the service account may set on `key` in its current status."""
    raw = transport.rest("GET", f"issue/{key}/editmeta")
    fields = (raw or {}).get("fields") or {}
    return {
        str(field_id): _screen_field_from_json(str(field_id), spec)
        for field_id, spec in fields.items()
        if isinstance(spec, Mapping)
    }


class CreateScreens:
    """Create meta per (project, issue type), paged, kept `SCREEN_CACHE_SECONDS` in an LRU of
    `SCREEN_CACHE_SIZE`; `clock` is monotonic seconds."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._kept: OrderedDict[tuple[str, str], tuple[float, dict[str, ScreenField]]] = (
            OrderedDict()
        )

    def get(
        self, transport: JiraTransport, project_key: str, issuetype_id: str
    ) -> dict[str, ScreenField]:
        """Cloud and Data Center 8.4+ serve `/issue/createmeta/{project}/issuetypes/{type}`
        (Cloud pages under `fields`, Data Center under `values`); the old
        `createmeta?expand=projects.issuetypes.fields` is gone from Cloud and from DC 9."""
        cache_key = (project_key, issuetype_id)
        now = self._clock()
        with self._lock:
            cached = self._kept.get(cache_key)
            if cached is not None and now - cached[0] < SCREEN_CACHE_SECONDS:
                self._kept.move_to_end(cache_key)
                return dict(cached[1])
        screen = _create_meta(transport, project_key, issuetype_id)
        with self._lock:
            self._kept[cache_key] = (now, screen)
            self._kept.move_to_end(cache_key)
            while len(self._kept) > SCREEN_CACHE_SIZE:
                self._kept.popitem(last=False)
        return dict(screen)


def _create_meta(
    transport: JiraTransport, project_key: str, issuetype_id: str
) -> dict[str, ScreenField]:
    path = f"issue/createmeta/{project_key}/issuetypes/{issuetype_id}"
    screen: dict[str, ScreenField] = {}
    start = 0
    while True:
        page = transport.rest("GET", path, params={"startAt": start, "maxResults": META_PAGE})
        page = page if isinstance(page, Mapping) else {}
        values = list(page.get("fields") or page.get("values") or page.get("results") or ())
        for spec in values:
            if isinstance(spec, Mapping):
                field_id = str(spec.get("fieldId") or spec.get("key") or "")
                if field_id:
                    screen[field_id] = _screen_field_from_json(field_id, spec)
        start += len(values)
        total = int(page.get("total") or 0)
        if not values or page.get("isLast") or start >= total:
            return screen


def _screen_field_from_json(field_id: str, spec: Mapping[str, Any]) -> ScreenField:
    """One field of a transition, create or edit screen as Jira describes it."""
    allowed = tuple(
        str(v.get("name") or v.get("value") or v.get("id"))
        for v in spec.get("allowedValues") or ()
        if isinstance(v, Mapping)
    )
    schema = spec.get("schema")
    return ScreenField(
        id=field_id,
        name=str(spec.get("name") or field_id),
        required=bool(spec.get("required")),
        allowed_values=allowed,
        schema_type=str(schema.get("type") or "") if isinstance(schema, Mapping) else "",
    )


def _transition_from_json(raw: Mapping[str, Any]) -> Transition:
    fields = {
        str(field_id): _screen_field_from_json(str(field_id), spec)
        for field_id, spec in (raw.get("fields") or {}).items()
        if isinstance(spec, Mapping)
    }
    return Transition(
        id=str(raw.get("id", "")),
        name=str(raw.get("name", "")),
        to=status_from_json(raw.get("to")),
        fields=fields,
    )
