"""Tables people download (CSV, JSON): one writer, safe to open in a spreadsheet.

A cell that starts with = + - @ (or a tab or carriage return) is a formula to Excel, LibreOffice
and Google Sheets: a lesson or an audit reason quoting `=HYPERLINK(...)` would run when the file
is opened. Such cells get a leading apostrophe, which spreadsheets show as text (OWASP's advice
on CSV injection). Lists and mappings go into a cell as JSON text.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
FORMATS = ("csv", "json")


def spreadsheet_safe(value: Any) -> Any:
    """The value as a CSV cell: text that a spreadsheet would run is prefixed with `'`."""
    if isinstance(value, list | tuple | dict):
        value = json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_text(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> str:
    """CSV with a header row, one line per row, every cell `spreadsheet_safe`."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        writer.writerow(spreadsheet_safe(row.get(column)) for column in columns)
    return out.getvalue()
