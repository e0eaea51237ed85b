"""VectorMatrix: float16 storage, best chunk per lesson, best query chunk, one row per part."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

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
    assert matrix.parts[0].dtype == np.float16
    query = _unit(rng.normal(size=(2, 48)))
    exact = (vectors @ query.T).max(axis=1)  # best query chunk for each lesson chunk
    expected = np.array([exact[0:3].max(), exact[3], exact[4:7].max()])
    got = matrix.similarities(query)
    assert got.dtype == np.float32 and got.shape == (1, 3)
    np.testing.assert_allclose(got[0], expected, atol=1e-3)
    first = vectors @ query[0]
    single = np.array([first[0:3].max(), first[3], first[4:7].max()])
    np.testing.assert_allclose(matrix.similarities(query[:1])[0], single, atol=1e-3)


def test_each_part_of_side_by_side_vectors_is_scored_on_its_own() -> None:
    rng = np.random.default_rng(4)
    english, multilingual = _unit(rng.normal(size=(5, 6))), _unit(rng.normal(size=(5, 10)))
    matrix = VectorMatrix.from_arrays(
        "1", "a+b", np.arange(5), np.arange(5), np.hstack([english, multilingual]), (6, 10)
    )
    assert matrix.widths == (6, 10)
    query = np.hstack([english[1:2], multilingual[3:4]])
    scores = matrix.similarities(query)
    np.testing.assert_allclose(scores[0], english @ english[1], atol=1e-3)
    np.testing.assert_allclose(scores[1], multilingual @ multilingual[3], atol=1e-3)
    with pytest.raises(ValueError, match="reindex"):
        VectorMatrix.from_arrays("1", "a+b", np.arange(5), np.arange(5), english, (6, 10))


def test_one_chunk_per_lesson_and_an_own_vector_scores_one() -> None:
    vectors = _unit(np.eye(4, 16) + 0.1)
    matrix = VectorMatrix.from_arrays("1", "m", np.arange(4), np.arange(4), vectors)
    (scores,) = matrix.similarities(vectors[2:3])
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
    assert matrix.generation == "7" and matrix.parts[0].shape == (9000, 8)
    np.testing.assert_array_equal(matrix.lesson_pks, np.arange(3000) * 2 + 1)
    np.testing.assert_array_equal(matrix.starts, np.arange(3000) * 3)
    np.testing.assert_allclose(matrix.parts[0].astype(np.float32), vectors, atol=1e-3)
    halves = VectorMatrix.load(conn, "m", "7", (3, 5))
    np.testing.assert_allclose(halves.parts[1].astype(np.float32), vectors[:, 3:], atol=1e-3)
    assert not conn.in_transaction
    assert VectorMatrix.load(conn, "missing", "7").empty
