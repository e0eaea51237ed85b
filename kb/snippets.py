"""Excerpts of a lesson around the words a query matched, with the spans to highlight."""

from __future__ import annotations

import re

from kb.records import Snippet
from kb.text import cjk_bigrams, dedupe, light_stem, significant_terms

SNIPPET_CHARS = 240


def _patterns(query: str, max_terms: int | None) -> re.Pattern[str] | None:
    terms = significant_terms(query)[:max_terms]
    stems = sorted({light_stem(term) for term in terms}, key=len, reverse=True)
    alternatives = [rf"(?<!\w){re.escape(stem)}\w*" for stem in stems]
    alternatives += [re.escape(gram) for gram in dedupe(cjk_bigrams(query))[:max_terms]]
    return re.compile("|".join(alternatives), re.IGNORECASE) if alternatives else None


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _find_spans(pattern: re.Pattern[str] | None, text: str) -> list[tuple[int, int]]:
    if pattern is None:
        return []
    spans: list[tuple[int, int]] = []
    position = 0
    # Overlapping CJK bigrams (数据, 据库) must both be found, so search from each start + 1.
    while (match := pattern.search(text, position)) is not None:
        if match.end() > match.start():
            spans.append(match.span())
        position = match.start() + 1
    return _merge(spans)


def make_snippet(
    text: str, query: str, width: int = SNIPPET_CHARS, *, max_terms: int | None = None
) -> Snippet:
    """The `width`-character window of `text` holding most query matches, spans included.

    `max_terms` highlights only the query's first words and CJK bigrams (as many as the
    keyword search used): each one costs a regex alternative tried at every position.
    """
    flat = " ".join(text.split())
    spans = _find_spans(_patterns(query, max_terms), flat)
    if len(flat) <= width:
        return Snippet(flat, tuple(spans))
    start = 0
    best = -1
    for span_start, _ in spans:
        candidate = max(span_start - width // 5, 0)
        inside = sum(1 for s, e in spans if s >= candidate and e <= candidate + width)
        if inside > best:
            best, start = inside, candidate
    end = min(start + width, len(flat))
    start = max(min(start, end - width), 0)
    # Cut at spaces so words stay whole (CJK text has none; then the cut stays put).
    if start > 0 and (space := flat.find(" ", start, start + 20)) != -1:
        start = space + 1
    if end < len(flat) and (space := flat.rfind(" ", end - 20, end)) != -1:
        end = space
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(flat) else ""
    shift = len(prefix) - start
    kept = tuple((s + shift, e + shift) for s, e in spans if s >= start and e <= end)
    return Snippet(prefix + flat[start:end] + suffix, kept)
