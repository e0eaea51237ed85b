"""Untrusted text made safe to print: file names, lesson text, titles, Jira's summaries, errors.

A newline in a file name forges a line of output, an ANSI escape rewrites the screen, and a bidi
override makes text read differently from what it is. `printable` shows each such character as a
visible escape (`\\n`, `\\x1b`, `\\u202e`); `json_line` does the same for JSON, whose own escaping
leaves C1 controls, bidi overrides and line separators raw. Every CLI command and the text and
JSON log formats go through these.
"""

from __future__ import annotations

import json
import re
from typing import Any

import click

# C1 controls and DEL, the bidi embeddings/overrides/isolates and marks, and the Unicode line and
# paragraph separators; with the C0 controls, what `printable` escapes. Zero-width joiners stay:
# scripts and emoji need them.
_BEYOND_C0 = "\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_UNSAFE_ANYWHERE = re.compile(f"[\x00-\x1f{_BEYOND_C0}]")
_UNSAFE_BUT_LINES = re.compile(f"[\x00-\x08\x0b-\x1f{_BEYOND_C0}]")  # keeps \t and \n
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(value: object, *, multiline: bool = False) -> str:
    """`value` as text a terminal shows literally: control characters become visible escapes.

    With `multiline`, newlines and tabs stay (a lesson's body); everything else is escaped.
    """
    text = str(value)
    return (_UNSAFE_BUT_LINES if multiline else _UNSAFE_ANYWHERE).sub(_escape, text)


def echo_line(line: object, *, err: bool = False) -> None:
    """Print one line that holds untrusted text: nothing in it can start another line."""
    click.echo(printable(line), err=err)


_RAW_IN_JSON = re.compile(f"[{_BEYOND_C0}]")  # json.dumps escapes C0 itself


def json_line(value: Any, **dumps: Any) -> str:
    """`json.dumps(value, ensure_ascii=False)` with the characters JSON leaves raw escaped too.

    The result is the same JSON (parsers read `\\u202e` back as the character); only what a
    terminal or a log viewer would act on is spelled out.
    """
    text = json.dumps(value, ensure_ascii=False, **dumps)
    return _RAW_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
