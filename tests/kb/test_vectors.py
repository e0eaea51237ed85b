"""VectorMatrix: float16 storage, best chunk per lesson, best query chunk."""

from __future__ import annotations

import sqlite3

import numpy as np

from kb.vectors import VectorMatrix


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def test_similarities_are_float32_cosines_of_each_lessons_best_chunk() -> None:
    rng = np.random.default_rng(3)
    vectors = _unit(rng.normal(size=(7, 48)))
    # Lessons 10, 11 and 12 own chunks 0-2, 3 and 4-6.
    matrix = VectorMatrix.from_arrays(
        "1", "m", np.array([10, 11, 12]), np.array([0, 3, 4]), vectors
    )
    assert matrix.matrix.dtype == np.float16
    query = _unit(rng.normal(size=(2, 48)))
    exact = (vectors @ query.T).max(axis=1)  # best query chunk for each lesson chunk
    expected = np.array([exact[0:3].max(), exact[3], exact[4:7].max()])
    got = matrix.similarities(query)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-3)
    first = vectors @ query[0]
    single = np.array([first[0:3].max(), first[3], first[4:7].max()])
    np.testing.assert_allclose(matrix.similarities(query[:1]), single, atol=1e-3)


def test_one_chunk_per_lesson_and_an_own_vector_scores_one() -> None:
    vectors = _unit(np.eye(4, 16) + 0.1)
    matrix = VectorMatrix.from_arrays("1", "m", np.arange(4), np.arange(4), vectors)
    scores = matrix.similarities(vectors[2:3])
    assert int(np.argmax(scores)) == 2
    assert abs(float(scores[2]) - 1.0) < 1e-3
    assert matrix.nbytes() == 4 * 16 * 2 + 4 * 8 * 2


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
    assert matrix.generation == "7" and matrix.matrix.shape == (9000, 8)
    np.testing.assert_array_equal(matrix.lesson_pks, np.arange(3000) * 2 + 1)
    np.testing.assert_array_equal(matrix.starts, np.arange(3000) * 3)
    np.testing.assert_allclose(matrix.matrix.astype(np.float32), vectors, atol=1e-3)
    assert not conn.in_transaction
    assert VectorMatrix.load(conn, "missing", "7").empty
