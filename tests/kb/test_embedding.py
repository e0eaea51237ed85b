"""The real model: a query embedded alone matches the same text embedded in bulk."""

from __future__ import annotations

import numpy as np
import pytest

from kb import SentenceTransformerEmbedder


@pytest.mark.real_model
def test_a_query_alone_and_in_a_bulk_batch_get_the_same_unit_vector() -> None:
    embedder = SentenceTransformerEmbedder()
    texts = ["database migration rollback failed", "证书过期导致服务中断"]
    alone = np.vstack([embedder.embed([text]) for text in texts])  # the query path
    bulk = embedder.embed(texts + [f"filler lesson {n}" for n in range(8)])[:2]  # float32
    assert alone.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(alone, axis=1), 1.0, atol=1e-5)
    # float32 everywhere, or bfloat16 for the query where the CPU has it natively.
    assert (alone * bulk).sum(axis=1).min() > 0.9995
    assert float(alone[0] @ alone[1]) < 0.9
