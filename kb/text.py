"""Text handling shared by indexing, querying and snippets: words, CJK bigrams, stop words.

Chinese has no spaces, so FTS5's unicode61 tokenizer would see a whole sentence as one token.
We index overlapping character bigrams of every CJK run instead (the classic CJK analyzer
approach): it finds two-character words such as 回滚 that a trigram index cannot.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import fields, is_dataclass, replace
from typing import TypeVar

# CJK Unified Ideographs (+ extension A), Hiragana, Katakana and Hangul syllables.
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\u3040-\u30ff\uac00-\ud7af"
CJK_RUN = re.compile(f"[{_CJK}]+")
_WORD = re.compile(rf"[^\W{_CJK}_]+(?:['’][^\W{_CJK}_]+)?", re.UNICODE)

_STOP_WORDS = """a about above after again against all am an and any are as at be because been
    before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself yourselves
    also get got however may might must shall us via etc e g eg ie"""
STOP_WORDS = frozenset(_STOP_WORDS.split())

# U+0000. No stored text holds one: PostgreSQL's text and jsonb refuse it, and neither Jira nor a
# person means anything by it. What people send to the web holding one is refused with a 400
# (webhooks.web.params.refuse_nul); what files and Jira send is read with it replaced
# (`without_nul`), so a stray NUL never loses a retrospective or a delivery.
NUL = "\x00"
REPLACEMENT = "\ufffd"  # U+FFFD, what a decoder puts where a character could not be read
_T = TypeVar("_T")


def words(text: str) -> list[str]:
    """Lower-cased non-CJK words of `text`, in order (apostrophes inside words kept)."""
    return [match.group(0).lower().replace("’", "'") for match in _WORD.finditer(text)]


def cjk_bigrams(text: str) -> list[str]:
    """Overlapping character bigrams of every CJK run; a lone character stays a unigram."""
    grams: list[str] = []
    for run in CJK_RUN.findall(text):
        if len(run) == 1:
            grams.append(run)
        else:
            grams.extend(run[i : i + 2] for i in range(len(run) - 1))
    return grams


def cjk_index_text(*parts: str) -> str:
    """The space-separated bigrams FTS5 indexes for the CJK content of `parts`."""
    return " ".join(gram for part in parts for gram in cjk_bigrams(part))


def significant_terms(text: str) -> list[str]:
    """Distinct query words minus stop words and one-letter noise, in first-seen order."""
    seen: dict[str, None] = {}
    for word in words(text):
        if word in STOP_WORDS or (len(word) < 2 and not word.isdigit()):
            continue
        seen.setdefault(word, None)
    return list(seen)


def light_stem(word: str) -> str:
    """A crude suffix strip, only for highlighting words that FTS5's porter stemmer matched."""
    for suffix in ("ations", "ation", "ings", "ing", "ions", "ion", "ies", "ed", "es", "s", "ly"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def dedupe(items: Iterable[str]) -> list[str]:
    """Items in first-seen order without repeats."""
    return list(dict.fromkeys(items))


def without_nul(value: _T) -> _T:
    """`value` with every NUL (U+0000) in its texts replaced by U+FFFD: a text, lists, tuples
    and dicts of them (keys too), or a dataclass's fields; anything else as it is. What holds
    no NUL is returned itself, not copied, so the common case costs one scan of the texts."""
    if isinstance(value, str):
        return value.replace(NUL, REPLACEMENT) if NUL in value else value  # type: ignore[return-value]
    if isinstance(value, dict):
        pairs = [(without_nul(k), without_nul(v)) for k, v in value.items()]
        same = all(
            k is k0 and v is v0 for (k, v), (k0, v0) in zip(pairs, value.items(), strict=True)
        )
        return value if same else type(value)(pairs)  # type: ignore[return-value]
    if isinstance(value, list | tuple):
        items = [without_nul(v) for v in value]
        same = all(v is v0 for v, v0 in zip(items, value, strict=True))
        return value if same else type(value)(items)  # type: ignore[return-value]
    if is_dataclass(value) and not isinstance(value, type):
        changes = {}
        for item in fields(value):
            old = getattr(value, item.name)
            new = without_nul(old)
            if new is not old:
                changes[item.name] = new
        return replace(value, **changes) if changes else value  # type: ignore[type-var]
    return value
