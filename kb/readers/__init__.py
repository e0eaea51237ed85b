"""Readers turn one source (a file's text) into lesson drafts; `read_source` picks the reader."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePath

from kb.errors import IngestError
from kb.readers.common import ParsedSource, decode
from kb.readers.jsonl import read_jsonl
from kb.readers.markdown import read_markdown
from kb.readers.parabol import PARABOL_COLUMNS, read_parabol

FORMATS = ("markdown", "parabol", "jsonl")
EXTENSIONS: dict[str, str] = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".mdx": "markdown",
    ".csv": "parabol",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
_READERS: dict[str, Callable[[str, str], ParsedSource]] = {
    "markdown": read_markdown,
    "parabol": read_parabol,
    "jsonl": read_jsonl,
}

__all__ = [
    "EXTENSIONS",
    "FORMATS",
    "PARABOL_COLUMNS",
    "ParsedSource",
    "detect_format",
    "read_bytes",
    "read_text",
]


def detect_format(source: str) -> str:
    """The format a file's extension implies."""
    suffix = PurePath(source).suffix.lower()
    if suffix not in EXTENSIONS:
        known = ", ".join(sorted(EXTENSIONS))
        raise IngestError(
            source, f"unknown file type {suffix or '(none)'!r}; use one of {known} or --format"
        )
    return EXTENSIONS[suffix]


def read_text(source: str, text: str, format: str = "auto") -> ParsedSource:
    """Parse already-decoded text in `format` ("auto" guesses from the source's extension)."""
    fmt = detect_format(source) if format == "auto" else format
    if fmt not in _READERS:
        raise IngestError(source, f"unknown format {fmt!r}; use one of auto, {', '.join(FORMATS)}")
    if not text.strip():
        raise IngestError(source, "the source is empty; add content or remove it")
    return _READERS[fmt](source, text)


def read_bytes(source: str, data: bytes, format: str = "auto") -> ParsedSource:
    """Decode (UTF-8) and parse one file's bytes."""
    return read_text(source, decode(source, data), format)
