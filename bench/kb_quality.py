"""Retrieval quality on GitBugs Hadoop: find a bug's known duplicate among 2,503 reports.

Each report is ingested as a lesson (title = summary, text = description) through the JSONL
reader; each of the 126 duplicate reports (summary + description) is the query, the report
itself excluded from its results. Prints R@1, R@5, R@10 and MRR per search mode, and R@5/R@10
on each half of the queries: search settings were tuned on the even-numbered queries (the
"tuning half"), so the odd-numbered ones (the "held-out half") show what tuning did not see.
The store is cached (HINDSIGHT_BENCH_CACHE) so re-runs skip the embedding work.
"""

from __future__ import annotations

import csv
import json
import sys
import time

from bench.kb_common import cache_dir, shared_folder
from kb import LessonStore, SentenceTransformerEmbedder
from kb.search import MAX_QUERY_CHARS

MODES = ("keyword", "semantic", "hybrid")
CUTOFFS = (1, 5, 10)


def _recalls(found_at: list[int | None]) -> dict[int, float]:
    """Share of queries whose duplicate is within the first k results, for each cutoff k."""
    return {
        k: sum(1 for r in found_at if r is not None and r <= k) / len(found_at) for k in CUTOFFS
    }


def _query(row: dict[str, str]) -> str:
    """Summary and description, cut to the longest query searched (as the suggester does)."""
    return f"{row['Summary']}\n{row['Description']}"[:MAX_QUERY_CHARS]


def main() -> int:
    folder = shared_folder("gitbugs-hadoop")
    if folder is None:
        return 0
    csv.field_size_limit(sys.maxsize)
    with open(folder / "hadoop_bugs.csv", encoding="utf-8", newline="") as handle:
        bugs = {row["Issue id"]: row for row in csv.DictReader(handle)}
    with open(folder / "hadoop_bugs-combined.csv", encoding="utf-8", newline="") as handle:
        pairs = [
            (row["Issue id"], {d.strip() for d in row["Duplicate id"].split(",") if d.strip()})
            for row in csv.DictReader(handle)
        ]
    corpus = cache_dir() / "gitbugs-hadoop.jsonl"
    lines = [
        json.dumps({"id": bug_id, "title": row["Summary"], "text": row["Description"] or "-"})
        for bug_id, row in bugs.items()
    ]
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    store = LessonStore(cache_dir() / "gitbugs-hadoop.db", SentenceTransformerEmbedder())
    started = time.perf_counter()
    report = store.ingest_paths([corpus])
    print(
        f"corpus: {len(bugs)} reports, {len(pairs)} duplicate queries; "
        f"ingest {report.summary()} in {time.perf_counter() - started:.1f} s"
    )
    for mode in MODES:
        found_at: list[int | None] = []
        started = time.perf_counter()
        for query_id, relevant in pairs:
            hits = store.search(_query(bugs[query_id]), limit=11, mode=mode)
            ranked = [hit.id for hit in hits if hit.id != query_id][:10]
            rank = next((i + 1 for i, hit_id in enumerate(ranked) if hit_id in relevant), None)
            found_at.append(rank)
        elapsed = (time.perf_counter() - started) / len(pairs) * 1000
        recalls = _recalls(found_at)
        mrr = sum(1 / r for r in found_at if r is not None) / len(pairs)
        tuning, held_out = _recalls(found_at[0::2]), _recalls(found_at[1::2])
        print(
            f"{mode:8s}  R@1 {recalls[1]:.3f}  R@5 {recalls[5]:.3f}  R@10 {recalls[10]:.3f}  "
            f"MRR@10 {mrr:.3f}   ({elapsed:.0f} ms/query)\n"
            f"          tuning half R@5 {tuning[5]:.3f} R@10 {tuning[10]:.3f}; "
            f"held-out half R@5 {held_out[5]:.3f} R@10 {held_out[10]:.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
