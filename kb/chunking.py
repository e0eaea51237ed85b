"""Split lesson text into model-sized chunks so nothing is silently truncated.

all-MiniLM-L6-v2 reads 256 word pieces and drops the rest. A lesson longer than that is embedded
as several chunks (each prefixed with the lesson's title for context); search scores a lesson by
its best chunk. Token counts come from the embedder's own tokenizer, so stack traces and Chinese
text, which cost many tokens per word, are measured rather than guessed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence

_PARAGRAPHS = re.compile(r"\n\s*\n")
_SENTENCES = re.compile(r"(?<=[.!?;])\s+|(?<=[。！？；])|\n")
_SAFETY_TOKENS = 8  # word pieces at joins do not always add up exactly

TokenCounter = Callable[[Sequence[str]], list[int]]


def _pieces(text: str) -> list[str]:
    pieces: list[str] = []
    for paragraph in _PARAGRAPHS.split(text):
        pieces.extend(p.strip() for p in _SENTENCES.split(paragraph) if p and p.strip())
    return pieces


def split_to_budget(text: str, count_tokens: TokenCounter, budget: int) -> list[str]:
    """Greedily pack the sentences of `text` into chunks of at most `budget` content tokens."""
    budget = max(budget, 8)
    pieces = _pieces(text)
    return _pack(_fit(pieces, count_tokens, budget), budget)


def _fit(pieces: list[str], count_tokens: TokenCounter, budget: int) -> list[tuple[str, int]]:
    """Each piece with its size, in order; a piece over the budget is split until it fits."""
    if not pieces:
        return []
    # Counts include [CLS] and [SEP]; the content of a piece costs two fewer tokens.
    counts = [max(count - 2, 0) for count in count_tokens(pieces)]
    sized: list[tuple[str, int]] = []
    for piece, tokens in zip(pieces, counts, strict=True):
        if tokens <= budget or len(piece) <= 1:
            sized.append((piece, tokens))
        else:
            parts = _even_split(piece, math.ceil(tokens / budget))
            sized.extend(_fit(parts, count_tokens, budget))
    return sized


def _even_split(piece: str, parts: int) -> list[str]:
    """Cut a piece into at least two parts: by words when it has enough, else by characters."""
    parts = max(parts, 2)
    words = piece.split()
    if len(words) >= parts:
        size = math.ceil(len(words) / parts)
        return [" ".join(words[i : i + size]) for i in range(0, len(words), size)]
    size = math.ceil(len(piece) / parts)
    return [piece[i : i + size] for i in range(0, len(piece), size)]


def _pack(sized: list[tuple[str, int]], budget: int) -> list[str]:
    chunks: list[str] = []
    current: list[str] = []
    used = 0
    for piece, tokens in sized:
        if current and used + tokens > budget:
            chunks.append(" ".join(current))
            current, used = [], 0
        current.append(piece)
        used += tokens
    if current:
        chunks.append(" ".join(current))
    return chunks


def embedding_inputs(
    title: str, text: str, count_tokens: TokenCounter, max_tokens: int
) -> list[str]:
    """The texts to embed for one lesson: its text in model-sized chunks, each led by the title."""
    title = title.strip()
    budget = max_tokens - 2 - _SAFETY_TOKENS
    title_tokens = 0
    if title:
        (title_tokens,) = count_tokens([title])
        title_tokens -= 2
        if title_tokens > budget // 3:  # a very long title would crowd out the text
            title = " ".join(title.split()[: max(budget // 6, 1)])
            (title_tokens,) = count_tokens([title])
            title_tokens -= 2
    body = text.strip()
    if title and body.startswith(title):
        body = body[len(title) :].strip()
    if not body:
        return [title] if title else []
    chunks = split_to_budget(body, count_tokens, budget - title_tokens - 1)
    return [f"{title}\n{chunk}" if title else chunk for chunk in chunks]
