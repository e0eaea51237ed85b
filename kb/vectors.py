"""The in-memory matrix of chunk vectors that semantic search multiplies against.

Loaded once from the store and reloaded only when the store's generation counter moves, so a
query costs one matrix-vector product, not a table read.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class VectorMatrix:
    """Chunk vectors grouped by lesson: lesson i owns rows starts[i] to starts[i+1]."""

    generation: str
    model: str
    lesson_pks: np.ndarray  # int64, ascending
    starts: np.ndarray  # int64, first chunk row of each lesson
    matrix: np.ndarray  # float32 (chunks, dimensions)

    @classmethod
    def load(cls, conn: sqlite3.Connection, model: str, generation: str) -> VectorMatrix:
        rows = conn.execute(
            "SELECT lesson_pk, vector FROM chunks WHERE model = ? ORDER BY lesson_pk, seq",
            (model,),
        ).fetchall()
        if not rows:
            empty = np.zeros(0, dtype=np.int64)
            return cls(generation, model, empty, empty, np.zeros((0, 0), dtype=np.float32))
        pks = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
        blob = b"".join(row[1] for row in rows)
        matrix = np.frombuffer(blob, dtype="<f4").astype(np.float32, copy=False)
        matrix = matrix.reshape(len(rows), -1)
        first = np.flatnonzero(np.r_[True, pks[1:] != pks[:-1]])
        return cls(generation, model, pks[first], first.astype(np.int64), matrix)

    @property
    def empty(self) -> bool:
        return len(self.lesson_pks) == 0

    def nbytes(self) -> int:
        return self.matrix.nbytes + self.lesson_pks.nbytes + self.starts.nbytes

    def similarities(self, query: np.ndarray) -> np.ndarray:
        """Each lesson's best cosine similarity between any of its chunks and any query chunk.

        `query` is a (query chunks, dimensions) array of unit vectors.
        """
        if self.empty:
            return np.zeros(0, dtype=np.float32)
        chunk_scores = self.matrix @ np.asarray(query, dtype=np.float32).T
        if chunk_scores.shape[1] == 1:
            chunk_scores = chunk_scores[:, 0]
        else:
            chunk_scores = chunk_scores.max(axis=1)
        return np.maximum.reduceat(chunk_scores, self.starts)
