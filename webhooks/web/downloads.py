"""Downloads of what a page lists: CSV (safe to open in a spreadsheet) or JSON, one way."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any

from flask import Response, abort

from plugin.export import FORMATS, csv_text


def check_format(fmt: str) -> None:
    """404 for a download format that is not offered."""
    if fmt not in FORMATS:
        abort(404, f"downloads are {', '.join(FORMATS)}")


def _lines(value: Any) -> Any:
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return "\n".join(value)
    return value


def download(
    fmt: str,
    name: str,
    columns: Sequence[str],
    rows: Iterable[Mapping[str, Any]],
    meta: Mapping[str, Any],
) -> Response:
    """A CSV or JSON attachment; JSON carries `meta` (total, capped, filters) beside the rows."""
    check_format(fmt)
    if fmt == "csv":  # a list of texts (tags, reasons) reads best as lines of one cell
        lines = ({k: _lines(v) for k, v in row.items()} for row in rows)
        body, mimetype = csv_text(columns, lines), "text/csv; charset=utf-8"
    else:
        body = json.dumps({**meta, "rows": list(rows)}, ensure_ascii=False, default=str)
        mimetype = "application/json"
    response = Response(body, mimetype=mimetype)
    stamp = date.today().isoformat()
    response.headers["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.{fmt}"'
    return response
