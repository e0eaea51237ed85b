"""The in-memory matrix of chunk vectors that semantic search multiplies against.

Loaded once from the store and reloaded only when the store's generation counter moves, so a
query costs one matrix-vector product, not a table read. The matrix is held as float16: half
the memory, and the product (memory-bound: every vector is read once per query) takes half the
time through torch's float16 kernel, which accumulates in float32 (cosines stay within ~3e-4 of
the float32 ones on all-MiniLM-L6-v2 vectors). Vectors stay float32 in the database.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

_LOAD_BATCH = 4096


@contextmanager
def _snapshot(conn: sqlite3.Connection) -> Iterator[None]:
    """Count and read the vectors in one read transaction (unless one is already open)."""
    if conn.in_transaction:
        yield
        return
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("COMMIT")


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
        """Read the model's chunk vectors in batches straight into one float16 array.

        Batches keep the transient float32 copies small: reading them all first would hold
        several times the matrix's size at once (and keep the process that big).
        """
        with _snapshot(conn):
            count, width = conn.execute(
                "SELECT count(*), max(length(vector)) FROM chunks WHERE model = ?", (model,)
            ).fetchone()
            if not count:
                empty = np.zeros(0, dtype=np.int64)
                return cls(generation, model, empty, empty, np.zeros((0, 0), dtype=np.float16))
            matrix = np.empty((count, width // 4), dtype=np.float16)
            pks = np.empty(count, dtype=np.int64)
            cursor = conn.execute(
                "SELECT lesson_pk, vector FROM chunks WHERE model = ? ORDER BY lesson_pk, seq",
                (model,),
            )
            row = 0
            while batch := cursor.fetchmany(_LOAD_BATCH):
                if row + len(batch) > count:
                    raise RuntimeError("the store changed while its vectors were read")
                pks[row : row + len(batch)] = [pk for pk, _ in batch]
                vectors = np.frombuffer(b"".join(blob for _, blob in batch), dtype="<f4")
                matrix[row : row + len(batch)] = vectors.reshape(len(batch), -1)
                row += len(batch)
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
