"""Ingest all 242 real post-mortems into a fresh store with the real model.

Prints errors (target: zero), the lesson count, cold ingest speed (model-bound on CPU) and the
speed of re-ingesting the unchanged folder (target: >= 20,000 lessons/s).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from bench.kb_common import shared_folder
from kb import LessonStore, load_embedder


def main() -> int:
    folder = shared_folder("postmortems-icco")
    if folder is None:
        return 0
    embedder = load_embedder()
    embedder.embed(["warm up: load the model before timing"])
    with tempfile.TemporaryDirectory() as scratch:
        store = LessonStore(Path(scratch) / "kb.db", embedder)
        started = time.perf_counter()
        cold = store.ingest_paths([folder])
        cold_s = time.perf_counter() - started
        started = time.perf_counter()
        warm = store.ingest_paths([folder])
        warm_s = time.perf_counter() - started
        stats = store.stats()
        store.close()
    for failure in cold.errors:
        print(f"error: {failure.error}")
    print(
        f"files: {len(cold.outcomes)}, errors: {len(cold.errors)}, lessons: {stats.lessons} "
        f"({', '.join(f'{k} {v}' for k, v in stats.by_kind.items())}), "
        f"vectors (chunks): {stats.vectors}"
    )
    print(
        f"cold ingest with {embedder.name}: {cold_s:.1f} s = "
        f"{cold.lessons_written / cold_s:,.0f} lessons/s (model-bound)"
    )
    print(
        f"unchanged re-ingest: {warm_s * 1000:.0f} ms = {warm.lessons_seen / warm_s:,.0f} lessons/s"
    )
    return 1 if cold.errors else 0


if __name__ == "__main__":
    sys.exit(main())
