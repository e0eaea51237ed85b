"""A tiny deterministic embedder: hashed bag of words, so tests need no model."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from kb.text import cjk_bigrams, light_stem, words


class HashingEmbedder:
    """Texts sharing (stemmed) words get similar vectors; one token per word, 32 per text max."""

    def __init__(self, name: str = "fake-hashing", dimensions: int = 64, max_tokens: int = 32):
        self._name = name
        self._dimensions = dimensions
        self._max_tokens = max_tokens
        self.embedded: list[str] = []  # every text embedded, to assert on reuse

    @property
    def name(self) -> str:
        return self._name

    @property
    def dimensions(self) -> int:
        return self._dimensions

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(text.split()) + len(cjk_bigrams(text)) + 2 for text in texts]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.embedded.extend(texts)
        out = np.zeros((len(texts), self._dimensions), dtype=np.float32)
        for row, text in enumerate(texts):
            for token in [light_stem(w) for w in words(text)] + cjk_bigrams(text):
                digest = hashlib.blake2b(token.encode(), digest_size=4).digest()
                out[row, int.from_bytes(digest, "little") % self._dimensions] += 1.0
            norm = np.linalg.norm(out[row])
            out[row] = out[row] / norm if norm else out[row]
            if not norm:
                out[row, 0] = 1.0
        return out
