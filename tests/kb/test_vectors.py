"""VectorMatrix: int8 vectors (float16 where the int8 kernel is missing), best chunk per lesson,
best query chunk, one row per part."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from kb import vectors as vectors_module
from kb.vectors import Float16Vectors, Int8Vectors, VectorMatrix, pack, quantize


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def test_similarities_are_float32_cosines_of_each_lessons_best_chunk() -> None:
    rng = np.random.default_rng(3)
    vectors = _unit(rng.normal(size=(7, 48)))
    # Lessons 10, 11 and 12 own chunks 0-2, 3 and 4-6.
    matrix = VectorMatrix.from_arrays(
        "1", "m", np.array([10, 11, 12]), np.array([0, 3, 4]), vectors
    )
    assert isinstance(matrix.parts[0], Int8Vectors)  # this machine has the int8 kernel
    query = _unit(rng.normal(size=(2, 48)))
    exact = (vectors @ query.T).max(axis=1)  # best query chunk for each lesson chunk
    expected = np.array([exact[0:3].max(), exact[3], exact[4:7].max()])
    got = matrix.similarities(query)
    assert got.dtype == np.float32 and got.shape == (1, 3)
    np.testing.assert_allclose(got[0], expected, atol=0.01)
    first = vectors @ query[0]
    single = np.array([first[0:3].max(), first[3], first[4:7].max()])
    np.testing.assert_allclose(matrix.similarities(query[:1])[0], single, atol=0.01)


def test_each_part_of_side_by_side_vectors_is_scored_on_its_own() -> None:
    rng = np.random.default_rng(4)
    english, multilingual = _unit(rng.normal(size=(5, 6))), _unit(rng.normal(size=(5, 10)))
    matrix = VectorMatrix.from_arrays(
        "1", "a+b", np.arange(5), np.arange(5), np.hstack([english, multilingual]), (6, 10)
    )
    assert matrix.widths == (6, 10)
    query = np.hstack([english[1:2], multilingual[3:4]])
    scores = matrix.similarities(query)
    np.testing.assert_allclose(scores[0], english @ english[1], atol=0.02)
    np.testing.assert_allclose(scores[1], multilingual @ multilingual[3], atol=0.02)
    with pytest.raises(ValueError, match="reindex"):
        VectorMatrix.from_arrays("1", "a+b", np.arange(5), np.arange(5), english, (6, 10))


def test_one_chunk_per_lesson_and_an_own_vector_scores_one() -> None:
    vectors = _unit(np.eye(4, 16) + 0.1)
    matrix = VectorMatrix.from_arrays("1", "m", np.arange(4), np.arange(4), vectors)
    (scores,) = matrix.similarities(vectors[2:3])
    assert int(np.argmax(scores)) == 2
    assert abs(float(scores[2]) - 1.0) < 0.01
    # int8 codes, a float32 scale and an int64 zero point per vector; pks and starts
    assert matrix.nbytes() == 4 * 16 + 4 * (4 + 8) + 4 * 8 * 2


def test_load_reads_every_batch_of_the_models_chunks_in_lesson_order() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE chunks (lesson_pk INT, seq INT, model TEXT, vector BLOB)")
    rng = np.random.default_rng(5)
    vectors = _unit(rng.normal(size=(9000, 8)))
    owners = np.repeat(np.arange(3000) * 2 + 1, 3)  # lessons 1, 3, 5... own 3 chunks each
    rows = [
        (int(pk), seq % 3, "m", v.astype("<f4").tobytes())
        for seq, (pk, v) in enumerate(zip(owners, vectors, strict=True))
    ]
    conn.executemany("INSERT INTO chunks VALUES (?, ?, ?, ?)", rows[::-1])  # order must not matter
    conn.execute("INSERT INTO chunks VALUES (2, 0, 'other', ?)", (vectors[0].tobytes(),))
    matrix = VectorMatrix.load(conn, "m", "7")
    assert matrix.generation == "7" and matrix.parts[0].shape == (9000, 8)
    np.testing.assert_array_equal(matrix.lesson_pks, np.arange(3000) * 2 + 1)
    np.testing.assert_array_equal(matrix.starts, np.arange(3000) * 3)
    query = vectors[:2]
    by_chunk = (query @ vectors.T).max(axis=0)
    np.testing.assert_allclose(
        matrix.similarities(query)[0], by_chunk.reshape(-1, 3).max(axis=1), atol=0.02
    )
    halves = VectorMatrix.load(conn, "m", "7", (3, 5))
    assert halves.widths == (3, 5)
    np.testing.assert_allclose(
        halves.parts[1].products(vectors[:1, 3:])[0], vectors[:, 3:] @ vectors[0, 3:], atol=0.02
    )
    assert not conn.in_transaction
    assert VectorMatrix.load(conn, "missing", "7").empty


def test_quantize_codes_each_row_with_its_own_scale() -> None:
    rows = np.array([[0.5, -0.25, 0.0], [0.0, 0.0, 0.0], [-3.0, 1.0, 2.0]], dtype=np.float32)
    codes, scales = quantize(rows)
    assert codes.dtype == np.int8 and scales.dtype == np.float32
    np.testing.assert_array_equal(np.abs(codes).max(axis=1), [127, 0, 127])
    np.testing.assert_allclose(codes * scales[:, None], rows, atol=float(scales.max()) / 2)


@pytest.mark.parametrize("kind", [Int8Vectors, Float16Vectors])
def test_both_forms_give_the_float32_products_of_real_sized_unit_vectors(kind: type) -> None:
    rng = np.random.default_rng(6)
    vectors = _unit(rng.normal(size=(2000, 512)))
    queries = _unit(rng.normal(size=(3, 512)))
    got = kind(*quantize(vectors)).products(queries)
    assert got.shape == (3, 2000) and got.dtype == np.float32
    # int8: vectors and query quantized (the query to 7 bits); float16: the vectors' codes
    np.testing.assert_allclose(got, queries @ vectors.T, atol=0.005)


def test_without_a_working_int8_kernel_vectors_are_float16(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def unavailable(*args: object) -> None:
        raise RuntimeError("no oneDNN here")

    monkeypatch.setattr(vectors_module.Int8Vectors, "__init__", unavailable)
    vectors_module._int8_kernel_works.cache_clear()
    try:
        assert isinstance(pack(*quantize(_unit(np.eye(3, 8) + 0.1))), Float16Vectors)
    finally:
        monkeypatch.undo()
        vectors_module._int8_kernel_works.cache_clear()
    assert isinstance(pack(*quantize(_unit(np.eye(3, 8) + 0.1))), Int8Vectors)
