"""Action items out of a retrospective's free text: who owns it, when it is due, is it done.

Teams write them in many ways; these are recognised, in English and Chinese, anywhere in the
item (case-blind, full-width colons too):

- owner: `owner: Dana`, `owner - Dana`, `assignee: Dana`, `assigned to Dana`, `@dana`;
  `负责人：王芳`, `责任人：王芳`, `负责：王芳`;
- due date: `due 2025-10-15`, `due: 2025-10-15`, `due by 2025/10/15`, `deadline 2025-10-15`,
  `by 2025-10-15`, `截止：2025-10-15`, `截止日期：2025年10月15日`, `完成时间：2025-10-15`;
- done: a task list's `- [x]` (the Markdown reader passes it on), or `(done)` / `已完成`.

The markers are taken out of the text that remains the item's text; a date that is not a
real date (2025-02-30) is left in the text rather than guessed.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

_COLON = r"\s*[:：]\s*"
_DATE = r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
# A name: up to three words of letters (a Latin "Dana Smith" or a Chinese "王芳"), stopping at
# punctuation, a date marker or the end.
_NAME = r"([^\W\d_][\w.'-]*(?:[ \t][A-Z][\w.'-]*){0,2})"
_OWNER_PATTERNS = (
    re.compile(
        r"(?:owner|assignee|owned by|assigned to)(?:" + _COLON + r"|\s+-\s+|\s+)" + _NAME, re.I
    ),
    re.compile(r"(?:负责人|责任人|负责|执行人)" + _COLON + r"?([^\s,，;；。)）]{1,20})"),
    re.compile(r"(?<![\w@])@([A-Za-z0-9][\w.-]{0,40}[A-Za-z0-9]|[A-Za-z0-9])"),
)
_DUE_PATTERNS = (
    re.compile(r"(?:due(?:\s+(?:by|on))?|deadline|by)(?:" + _COLON + r"|\s+)" + _DATE, re.I),
    re.compile(r"(?:截止日期|截止时间|截止|完成时间|期限)" + _COLON + r"?" + _DATE),
)
_DONE = re.compile(r"\(\s*done\s*\)|（\s*已完成\s*）|\[\s*done\s*\]|已完成", re.I)
_LEFTOVER = re.compile(r"\(\s*[,，;；]?\s*\)|（\s*[,，;；]?\s*）")


@dataclass(frozen=True)
class ActionDraft:
    """An action item as read from text: what, who, by when, and whether it is done."""

    text: str
    owner: str | None = None
    due: str | None = None  # YYYY-MM-DD
    done: bool = False


def parse_action(text: str, *, checkbox: str | None = None) -> ActionDraft:
    """Read owner, due date and done-ness out of an action item's text.

    `checkbox` is what a task list said ("open" or "done"), when the item was one.
    """
    rest = text.strip()
    owner = None
    for pattern in _OWNER_PATTERNS:
        match = pattern.search(rest)
        if match:
            owner = match.group(1).strip().rstrip(".")
            rest = _cut(rest, match)
            break
    due = None
    for pattern in _DUE_PATTERNS:
        match = pattern.search(rest)
        if match:
            try:
                day = dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
            except ValueError:
                continue  # not a real date: leave it in the text
            due = day.isoformat()
            rest = _cut(rest, match)
            break
    done = checkbox == "done"
    match = _DONE.search(rest)
    if match:
        done = True
        rest = _cut(rest, match)
    return ActionDraft(text=_tidy(rest) or text.strip(), owner=owner, due=due, done=done)


def _cut(text: str, match: re.Match[str]) -> str:
    return text[: match.start()] + " " + text[match.end() :]


def _tidy(text: str) -> str:
    """Drop what the markers leave behind: empty brackets, dangling separators, spaces."""
    previous = None
    while previous != text:
        previous = text
        text = _LEFTOVER.sub(" ", text)
        text = re.sub(r"\s*[,，;；]\s*([,，;；)）]|$)", r"\1", text)
        text = re.sub(r"([(（])\s*[,，;；]\s*", r"\1", text)
    text = re.sub(r"[ \t]+", " ", text).strip()
    return text.strip(" -–—:：,，;；")
