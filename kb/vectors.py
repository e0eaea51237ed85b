"""The in-memory matrices of chunk vectors that semantic search multiplies against.

Loaded once from the store and reloaded only when the store's generation counter moves, so a
query costs one matrix product per model, not a table read. Vectors stay float32 in the
database; in memory each is held as int8 codes with a float32 scale of its own, multiplied by
oneDNN's int8 kernel (the one torch's x86 quantization uses): half float16's memory, and on one
core of this 2-core machine a product over 100,000 x 512 vectors took ~2.5 ms against 20-30 ms
for torch's float16 matrix-vector product. On the shipped models' GitBugs vectors, cosines stay
within 0.0024 of float32 (mean 0.0003; float16: 0.0003, mean 0.00004), and every figure of
`bench.kb_bilingual` (rankings, calibrated threshold) came out as with float16. Where the int8
kernel is unavailable (a torch without oneDNN, a CPU it does not run on) vectors are float16.
"""

from __future__ import annotations

import functools
import itertools
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

_LOAD_BATCH = 4096
_WIDTH_ERROR = (
    "the stored vectors have {stored} dimensions but the model makes {wanted}; "
    "run `hindsight reindex`"
)
_CODE_MAX = 127  # int8 codes of the stored vectors: -127..127, one scale per vector
# The query's uint8 codes stay within 0..127 (7 bits, zero at 64): two products of a uint8 and
# an int8 code then sum within int16, which CPUs without VNNI use for the intermediate sums.
_QUERY_MAX = 63
_QUERY_ZERO = 64
_RESIDUAL = 64  # |rounding residual| <= scale / 2: magnified, it stays within 7 bits

log = logging.getLogger(__name__)


def _spans(widths: tuple[int, ...]) -> list[tuple[int, int]]:
    """(start, end) columns of each part."""
    return list(itertools.pairwise(int(edge) for edge in np.cumsum((0, *widths))))


Batches = Callable[[Any, str, Sequence[Any], int], Iterator[list[Any]]]


def plain_batches(conn: Any, sql: str, args: Sequence[Any], size: int) -> Iterator[list[Any]]:
    """The rows of `sql`, `size` at a time, from a cursor that steps through them (SQLite's)."""
    cursor = conn.execute(sql, args)
    while batch := cursor.fetchmany(size):
        yield batch


def quantize(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int8 codes and float32 scales (one per row) with `codes * scale` close to `vectors`."""
    vectors = np.asarray(vectors, dtype=np.float32)
    scales = np.abs(vectors).max(axis=1, initial=0.0) / _CODE_MAX
    scales[scales == 0] = 1.0  # an all-zero row: any scale codes it exactly
    codes = np.rint(vectors / scales[:, None]).astype(np.int8)
    return codes, scales.astype(np.float32)


class PartVectors(Protocol):
    """One part's chunk vectors, ready to multiply."""

    @property
    def shape(self) -> tuple[int, int]: ...

    @property
    def nbytes(self) -> int: ...

    def products(self, queries: np.ndarray) -> np.ndarray:
        """(len(queries), rows) float32 dot products with a (queries, width) float32 array."""
        ...


class Int8Vectors:
    """int8 codes packed for oneDNN's int8 linear kernel, with a float32 scale per row."""

    def __init__(self, codes: np.ndarray, scales: np.ndarray) -> None:
        import torch  # the embedding model's dependency; imported only once vectors exist

        self.shape = (int(codes.shape[0]), int(codes.shape[1]))
        self._packed = torch.ops.onednn.qlinear_prepack(
            torch.from_numpy(np.ascontiguousarray(codes)), [1, self.shape[1]]
        )
        self._scales = torch.from_numpy(np.ascontiguousarray(scales, dtype=np.float32))
        self._zero_points = torch.zeros(self.shape[0], dtype=torch.int64)

    @property
    def nbytes(self) -> int:
        return int(self._packed.nbytes + self._scales.nbytes + self._zero_points.nbytes)

    def products(self, queries: np.ndarray) -> np.ndarray:
        import torch

        queries = np.asarray(queries, dtype=np.float32)
        # Each query row goes in as two rows of 7-bit codes on one scale: the row, and what
        # rounding left of it magnified _RESIDUAL times. Recombined, their products carry the
        # query's rounding error shrunk _RESIDUAL-fold: the cosine's error fell 3-5x (to the
        # vectors' own int8 rounding) and GitBugs held-out R@5 back from 0.794 to float16's
        # 0.810. The matrix is read once either way, so the second row costs little.
        scale = max(float(np.abs(queries).max(initial=0.0)), 1e-12) / _QUERY_MAX
        high = np.rint(queries / scale)
        low = np.rint((queries - high * scale) * (_RESIDUAL / scale))
        codes = (np.vstack([high, low]) + _QUERY_ZERO).astype(np.uint8)
        out = torch.ops.onednn.qlinear_pointwise(
            torch.from_numpy(codes), scale, _QUERY_ZERO,
            self._packed, self._scales, self._zero_points, None,
            1.0, 0, torch.float32, "none", [], "",
        ).numpy()  # fmt: skip
        return out[: len(queries)] + out[len(queries) :] / _RESIDUAL


class Float16Vectors:
    """float16 vectors multiplied by torch (its float16 kernel accumulates in float32)."""

    def __init__(self, codes: np.ndarray, scales: np.ndarray) -> None:
        import torch

        self._matrix = (codes * scales[:, None]).astype(np.float16)
        self._tensor = torch.from_numpy(self._matrix)
        self.shape = (int(codes.shape[0]), int(codes.shape[1]))

    @property
    def nbytes(self) -> int:
        return int(self._matrix.nbytes)

    def products(self, queries: np.ndarray) -> np.ndarray:
        import torch

        chunks = torch.from_numpy(np.asarray(queries, dtype=np.float16))
        # One matrix-vector product per query chunk: torch's float16 matrix-matrix product is
        # no faster per chunk, and a query has one chunk unless it is a whole report.
        return torch.stack([torch.mv(self._tensor, chunk) for chunk in chunks]).float().numpy()


def pack(codes: np.ndarray, scales: np.ndarray) -> PartVectors:
    """Quantized vectors in the fastest form this machine multiplies correctly."""
    if _int8_kernel_works():
        return Int8Vectors(codes, scales)
    return Float16Vectors(codes, scales)


@functools.cache
def _int8_kernel_works() -> bool:
    """Whether oneDNN's int8 kernel runs here and gives the products numpy gives."""
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(64, 48)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    try:
        got = Int8Vectors(*quantize(vectors)).products(vectors[:2])
    except (AttributeError, RuntimeError, NotImplementedError) as error:
        log.warning("int8 vector products unavailable (%s); using float16, ~10x slower", error)
        return False
    if not np.allclose(got, vectors[:2] @ vectors.T, atol=0.02):
        log.warning("int8 vector products are wrong on this machine; using float16, ~10x slower")
        return False
    return True


@dataclass(frozen=True)
class VectorMatrix:
    """Chunk vectors grouped by lesson: lesson i owns rows starts[i] to starts[i+1].

    An embedder of several models side by side stores their unit vectors end to end; each part
    (`widths` wide) is held and multiplied on its own and gets its own score row.
    """

    generation: str
    model: str
    lesson_pks: np.ndarray  # int64, ascending
    starts: np.ndarray  # int64, first chunk row of each lesson
    parts: tuple[PartVectors, ...]

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
        """Read the model's chunk vectors in batches straight into int8 codes, one per part.

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
        codes = [np.empty((count, w), dtype=np.int8) for w in widths]
        scales = [np.empty(count, dtype=np.float32) for _ in widths]
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
            rows = slice(row, row + len(batch))
            pks[rows] = [pk for pk, _ in batch]
            vectors = np.frombuffer(b"".join(blob for _, blob in batch), dtype="<f4")
            vectors = vectors.reshape(len(batch), -1)
            for part, (a, b) in enumerate(_spans(widths)):
                codes[part][rows], scales[part][rows] = quantize(vectors[:, a:b])
            row += len(batch)
        first = np.flatnonzero(np.r_[True, pks[1:] != pks[:-1]])
        parts = []
        while codes:  # pack one part at a time, dropping its plain codes as soon as it is packed
            parts.append(pack(codes.pop(0), scales.pop(0)))
        return cls(generation, model, pks[first], first.astype(np.int64), tuple(parts))

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
        parts = tuple(pack(*quantize(matrix[:, a:b])) for a, b in _spans(widths))
        return cls(generation, model, lesson_pks, starts, parts)

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
        query = np.asarray(query, dtype=np.float32).reshape(len(query), -1)
        rows = []
        for part, (a, b) in zip(self.parts, _spans(self.widths), strict=True):
            chunk_scores = part.products(query[:, a:b]).max(axis=0)
            if len(self.starts) != len(chunk_scores):  # several chunks per lesson: best one
                chunk_scores = np.maximum.reduceat(chunk_scores, self.starts)
            rows.append(chunk_scores)
        return np.vstack(rows)
