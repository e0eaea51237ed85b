"""The site's fields (`GET /field`, asked once): names resolved to ids, and their schemas."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from plugin.jira.adapter.transport import API, JiraTransport
from plugin.jira.port import FieldInfo


class FieldCatalog:
    """Jira's field list, fetched on first need and kept (fields are added rarely, and a
    restart picks them up)."""

    def __init__(self, transport: JiraTransport) -> None:
        self._transport = transport
        self._lock = threading.Lock()
        self._fields: list[dict[str, Any]] | None = None

    def field_id(self, name_or_id: str) -> str:
        """The id of the field named `name_or_id` (or with that JQL clause name); KeyError
        when there is none or more than one."""
        fields = self._field_list()
        wanted = name_or_id.strip()
        if any(f.get("id") == wanted for f in fields):
            return wanted
        lowered = wanted.lower()
        matches = sorted(
            {
                str(f["id"])
                for f in fields
                if str(f.get("name", "")).lower() == lowered
                or lowered in (str(c).lower() for c in f.get("clauseNames") or ())
            }
        )
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise KeyError(
                f"field name {name_or_id!r} is ambiguous in Jira ({', '.join(matches)}): "
                "name the field by its id instead"
            )
        raise KeyError(f"Jira has no field named {name_or_id!r} (GET {API}/field)")

    def describe(self, name_or_id: str) -> FieldInfo:
        """A field's id, name and schema type (KeyError when Jira has no such field)."""
        field_id = self.field_id(name_or_id)
        raw = next(f for f in self._field_list() if str(f.get("id")) == field_id)
        schema = raw.get("schema") if isinstance(raw.get("schema"), Mapping) else {}
        return FieldInfo(
            id=field_id,
            name=str(raw.get("name") or field_id),
            schema_type=str(schema.get("type") or ""),
            items=str(schema.get("items") or ""),
            custom=bool(raw.get("custom")),
        )

    def by_id(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Field names ("Change type") resolved to ids; ids and system names pass through."""
        return {self.field_id(name): value for name, value in fields.items()}

    def _field_list(self) -> list[dict[str, Any]]:
        with self._lock:
            if self._fields is not None:
                return self._fields
        transport = self._transport
        fields = transport.call("GET", f"{API}/field", transport.client.fields)
        with self._lock:
            self._fields = list(fields)
            return self._fields
