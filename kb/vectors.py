"""The in-memory matrix of chunk vectors that semantic search multiplies against.

Loaded once from the store and reloaded only when the store's generation counter moves, so a
query costs one matrix-vector product, not a table read. The matrix is held as float16: half
the memory, and the product (memory-bound: every vector is read once per query) takes half the
time through torch's float16 kernel, which accumulates in float32 (cosines stay within ~3e-4 of
the float32 ones on all-MiniLM-L6-v2 vectors). Vectors stay float32 in the database.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class VectorMatrix:
    """Chunk vectors grouped by lesson: lesson i owns rows starts[i] to starts[i+1]."""

    generation: str
    model: str
    lesson_pks: np.ndarray  # int64, ascending
    starts: np.ndarray  # int64, first chunk row of each lesson
    matrix: np.ndarray  # float16 (chunks, dimensions), C-contiguous
    _tensor: Any = field(default=None, repr=False, compare=False)  # torch view of `matrix`

    @classmethod
    def load(cls, conn: sqlite3.Connection, model: str, generation: str) -> VectorMatrix:
        rows = conn.execute(
            "SELECT lesson_pk, vector FROM chunks WHERE model = ? ORDER BY lesson_pk, seq",
            (model,),
        ).fetchall()
        if not rows:
            empty = np.zeros(0, dtype=np.int64)
            return cls(generation, model, empty, empty, np.zeros((0, 0), dtype=np.float16))
        pks = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
        blob = b"".join(row[1] for row in rows)
        del rows
        matrix = np.frombuffer(blob, dtype="<f4").astype(np.float16).reshape(len(pks), -1)
        first = np.flatnonzero(np.r_[True, pks[1:] != pks[:-1]])
        return cls.from_arrays(generation, model, pks[first], first.astype(np.int64), matrix)

    @classmethod
    def from_arrays(
        cls,
        generation: str,
        model: str,
        lesson_pks: np.ndarray,
        starts: np.ndarray,
        matrix: np.ndarray,
    ) -> VectorMatrix:
        import torch  # the embedding model's dependency; imported only once vectors exist

        matrix = np.ascontiguousarray(matrix, dtype=np.float16)
        return cls(generation, model, lesson_pks, starts, matrix, torch.from_numpy(matrix))

    @property
    def empty(self) -> bool:
        return len(self.lesson_pks) == 0

    def nbytes(self) -> int:
        return self.matrix.nbytes + self.lesson_pks.nbytes + self.starts.nbytes

    def similarities(self, query: np.ndarray) -> np.ndarray:
        """Each lesson's best cosine similarity (float32) between its chunks and any query chunk.

        `query` is a (query chunks, dimensions) array of unit vectors.
        """
        if self.empty:
            return np.zeros(0, dtype=np.float32)
        import torch

        chunks = torch.from_numpy(np.asarray(query, dtype=np.float16).reshape(len(query), -1))
        # One matrix-vector product per query chunk: torch's float16 matrix-matrix product is
        # no faster per chunk, and a query has one chunk unless it is a whole report.
        best = torch.mv(self._tensor, chunks[0])
        for chunk in chunks[1:]:
            best = torch.maximum(best, torch.mv(self._tensor, chunk))
        chunk_scores = best.float().numpy()
        if len(self.starts) == len(chunk_scores):  # one chunk per lesson: nothing to group
            return chunk_scores
        return np.maximum.reduceat(chunk_scores, self.starts)
