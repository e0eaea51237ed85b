"""Retrieval quality on GitBugs Hadoop: find a bug's known duplicate among 2,503 reports.

Each report is ingested as a lesson (title = summary, text = description) through the JSONL
reader; each of the 126 duplicate reports (summary + description) is the query, the report
itself excluded from its results. Prints R@1, R@5, R@10 and MRR per search mode and model, and
R@5/R@10 on each half of the queries: search settings are tuned on the even-numbered queries
(the "tuning half"), so the odd-numbered ones (the "held-out half") show what tuning did not
see. Stores are cached per model (HINDSIGHT_BENCH_CACHE) so re-runs skip the embedding work.
"""

from __future__ import annotations

import json
import sys
import time

from bench.kb_common import GitBugs, cache_dir, load_gitbugs, model_slug
from kb import LessonStore
from kb.embedding import MINILM_MODEL_NAME, Embedder, load_embedder
from kb.search import MAX_QUERY_CHARS, SearchSettings

MODES = ("keyword", "semantic", "hybrid")
CUTOFFS = (1, 5, 10)


def gitbugs_store(data: GitBugs, embedder: Embedder) -> LessonStore:
    """Every report as a lesson, embedded by `embedder` (cached: one database per model)."""
    corpus = cache_dir() / "gitbugs-hadoop.jsonl"
    lines = [
        json.dumps({"id": bug_id, "title": row["Summary"], "text": row["Description"] or "-"})
        for bug_id, row in data.bugs.items()
    ]
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    store = LessonStore(cache_dir() / f"gitbugs-hadoop-{model_slug(embedder.name)}.db", embedder)
    started = time.perf_counter()
    report = store.ingest_paths([corpus])
    if report.lessons_written:
        print(
            f"ingested {report.summary()} with {embedder.name} "
            f"in {time.perf_counter() - started:.1f} s"
        )
    return store


def query_text(row: dict[str, str]) -> str:
    """Summary and description, cut to the longest query searched (as the suggester does)."""
    return f"{row['Summary']}\n{row['Description']}"[:MAX_QUERY_CHARS]


def found_ranks(
    store: LessonStore,
    data: GitBugs,
    pairs: list[tuple[str, set[str]]],
    mode: str,
    settings: SearchSettings | None = None,
) -> list[int | None]:
    """For each pair, the 1-based rank of its first duplicate in the top 10 (None: missed)."""
    if settings is not None:
        store.settings = settings
    found_at: list[int | None] = []
    for query_id, relevant in pairs:
        hits = store.search(query_text(data.bugs[query_id]), limit=11, mode=mode)
        ranked = [hit.id for hit in hits if hit.id != query_id][:10]
        found_at.append(next((i + 1 for i, h in enumerate(ranked) if h in relevant), None))
    return found_at


def recalls(found_at: list[int | None]) -> dict[int, float]:
    """Share of queries whose duplicate is within the first k results, for each cutoff k."""
    return {
        k: sum(1 for r in found_at if r is not None and r <= k) / len(found_at) for k in CUTOFFS
    }


def report_model(data: GitBugs, embedder: Embedder) -> None:
    store = gitbugs_store(data, embedder)
    print(f"model {embedder.name}:")
    for mode in MODES:
        started = time.perf_counter()
        found_at = found_ranks(store, data, data.pairs, mode)
        elapsed = (time.perf_counter() - started) / len(data.pairs) * 1000
        every = recalls(found_at)
        mrr = sum(1 / r for r in found_at if r is not None) / len(found_at)
        tuning, held_out = recalls(found_at[0::2]), recalls(found_at[1::2])
        print(
            f"  {mode:8s}  R@1 {every[1]:.3f}  R@5 {every[5]:.3f}  R@10 {every[10]:.3f}  "
            f"MRR@10 {mrr:.3f}   ({elapsed:.0f} ms/query)\n"
            f"            tuning half R@5 {tuning[5]:.3f} R@10 {tuning[10]:.3f}; "
            f"held-out half R@5 {held_out[5]:.3f} R@10 {held_out[10]:.3f}"
        )
    store.close()


def main() -> int:
    data = load_gitbugs()
    if data is None:
        return 0
    print(f"corpus: {len(data.bugs)} reports, {len(data.pairs)} duplicate queries")
    # The shipped (multilingual) model, then the English-only model it replaced, for comparison.
    for embedder in (load_embedder(), load_embedder(MINILM_MODEL_NAME)):
        report_model(data, embedder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
