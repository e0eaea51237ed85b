"""The in-memory matrices of chunk vectors that semantic search multiplies against.

Loaded once from the store and reloaded only when the store's generation counter moves, so a
query costs one matrix-vector product per model, not a table read. Vectors are held as float16: half
the memory, and the product (memory-bound: every vector is read once per query) takes half the
time through torch's float16 kernel, which accumulates in float32 (cosines stay within ~3e-4 of
the float32 ones on all-MiniLM-L6-v2 vectors). Vectors stay float32 in the database.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

_LOAD_BATCH = 4096
_WIDTH_ERROR = (
    "the stored vectors have {stored} dimensions but the model makes {wanted}; "
    "run `hindsight reindex`"
)


def _spans(widths: tuple[int, ...]) -> list[tuple[int, int]]:
    """(start, end) columns of each part."""
    return list(itertools.pairwise(int(edge) for edge in np.cumsum((0, *widths))))


Batches = Callable[[Any, str, Sequence[Any], int], Iterator[list[Any]]]


def plain_batches(conn: Any, sql: str, args: Sequence[Any], size: int) -> Iterator[list[Any]]:
    """The rows of `sql`, `size` at a time, from a cursor that steps through them (SQLite's)."""
    cursor = conn.execute(sql, args)
    while batch := cursor.fetchmany(size):
        yield batch


@dataclass(frozen=True)
class VectorMatrix:
    """Chunk vectors grouped by lesson: lesson i owns rows starts[i] to starts[i+1].

    An embedder of several models side by side stores their unit vectors end to end; `widths`
    says how wide each part is, and each part gets its own contiguous matrix and score row.
    """

    generation: str
    model: str
    lesson_pks: np.ndarray  # int64, ascending
    starts: np.ndarray  # int64, first chunk row of each lesson
    parts: tuple[np.ndarray, ...]  # float16 (chunks, part dimensions) each, C-contiguous
    _tensors: tuple[Any, ...] = field(default=(), repr=False, compare=False)  # torch views

    @classmethod
    def load(
        cls,
        conn: Any,
        model: str,
        generation: str,
        widths: tuple[int, ...] = (),
        *,
        batches: Batches = plain_batches,
    ) -> VectorMatrix:
        """Read the model's chunk vectors in batches straight into float16 arrays, one per part.

        Batches keep the transient float32 copies small: reading them all first would hold
        several times the matrix's size at once (and keep the process that big). Call it in a
        read transaction, so the count and the rows agree; `batches` streams the rows (a
        server-side cursor on PostgreSQL, see `kb.engine`).
        """
        count, width = conn.execute(
            "SELECT count(*), max(length(vector)) FROM chunks WHERE model = ?", (model,)
        ).fetchone()
        if not count:
            empty = np.zeros(0, dtype=np.int64)
            return cls(generation, model, empty, empty, ())
        widths = widths or (width // 4,)
        if sum(widths) != width // 4:
            raise ValueError(_WIDTH_ERROR.format(stored=width // 4, wanted=sum(widths)))
        parts = tuple(np.empty((count, w), dtype=np.float16) for w in widths)
        pks = np.empty(count, dtype=np.int64)
        row = 0
        for batch in batches(
            conn,
            "SELECT lesson_pk, vector FROM chunks WHERE model = ? ORDER BY lesson_pk, seq",
            (model,),
            _LOAD_BATCH,
        ):
            if row + len(batch) > count:
                raise RuntimeError("the store changed while its vectors were read")
            pks[row : row + len(batch)] = [pk for pk, _ in batch]
            vectors = np.frombuffer(b"".join(blob for _, blob in batch), dtype="<f4")
            vectors = vectors.reshape(len(batch), -1)
            for part, (a, b) in zip(parts, _spans(widths), strict=True):
                part[row : row + len(batch)] = vectors[:, a:b]
            row += len(batch)
        first = np.flatnonzero(np.r_[True, pks[1:] != pks[:-1]])
        return cls._of_parts(generation, model, pks[first], first.astype(np.int64), parts)

    @classmethod
    def from_arrays(
        cls,
        generation: str,
        model: str,
        lesson_pks: np.ndarray,
        starts: np.ndarray,
        matrix: np.ndarray,
        widths: tuple[int, ...] = (),
    ) -> VectorMatrix:
        """From a (chunks, dimensions) matrix whose parts are `widths` wide (default: one)."""
        widths = widths or (matrix.shape[1],)
        if sum(widths) != matrix.shape[1]:
            raise ValueError(_WIDTH_ERROR.format(stored=matrix.shape[1], wanted=sum(widths)))
        # Each part contiguous on its own: a product over a column slice would read every row
        # whole once per part.
        parts = tuple(
            np.ascontiguousarray(matrix[:, a:b], dtype=np.float16) for a, b in _spans(widths)
        )
        return cls._of_parts(generation, model, lesson_pks, starts, parts)

    @classmethod
    def _of_parts(
        cls,
        generation: str,
        model: str,
        lesson_pks: np.ndarray,
        starts: np.ndarray,
        parts: tuple[np.ndarray, ...],
    ) -> VectorMatrix:
        import torch  # the embedding model's dependency; imported only once vectors exist

        tensors = tuple(torch.from_numpy(part) for part in parts)
        return cls(generation, model, lesson_pks, starts, parts, tensors)

    @property
    def empty(self) -> bool:
        return len(self.lesson_pks) == 0

    @property
    def widths(self) -> tuple[int, ...]:
        return tuple(part.shape[1] for part in self.parts)

    def nbytes(self) -> int:
        vectors = sum(part.nbytes for part in self.parts)
        return vectors + self.lesson_pks.nbytes + self.starts.nbytes

    def similarities(self, query: np.ndarray) -> np.ndarray:
        """Each lesson's best cosine similarity (float32) between its chunks and any query chunk,
        one row per part: a (parts, lessons) array.

        `query` is a (query chunks, dimensions) array whose parts are unit vectors.
        """
        if self.empty:
            return np.zeros((max(len(self.parts), 1), 0), dtype=np.float32)
        import torch

        chunks = torch.from_numpy(np.asarray(query, dtype=np.float16).reshape(len(query), -1))
        rows = []
        for tensor, (a, b) in zip(self._tensors, _spans(self.widths), strict=True):
            # One matrix-vector product per query chunk: torch's float16 matrix-matrix product
            # is no faster per chunk, and a query has one chunk unless it is a whole report.
            best = torch.mv(tensor, chunks[0, a:b])
            for chunk in chunks[1:]:
                best = torch.maximum(best, torch.mv(tensor, chunk[a:b]))
            chunk_scores = best.float().numpy()
            if len(self.starts) != len(chunk_scores):  # several chunks per lesson: best one
                chunk_scores = np.maximum.reduceat(chunk_scores, self.starts)
            rows.append(chunk_scores)
        return np.vstack(rows)
