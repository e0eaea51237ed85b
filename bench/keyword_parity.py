"""Keyword index parity: GitBugs Hadoop recall with SQLite's FTS5 index and PostgreSQL's.

The same store answers every query (`bench.kb_quality`'s cached Hadoop store: 2,503 reports,
126 duplicate queries), first with its FTS5 index, then with its keyword index swapped for a
`PostgresKeywordIndex` on a throwaway PostgreSQL server holding the same lessons, so the only
difference is the keyword index. Prints R@5/R@10 (all queries, tuning half, held-out half)
and ms/query per engine and mode, and the differences (issue 14 asks for 0.01 at most).

    python -m bench.keyword_parity                  # keyword and hybrid (loads the models)
    python -m bench.keyword_parity --modes keyword  # keyword only: no model needed
    python -m bench.keyword_parity --scale          # keyword ranking time at 100,000 lessons
    python -m bench.keyword_parity --real-store     # the whole LessonStore on PostgreSQL

`--real-store` compares with the lesson store itself on PostgreSQL (kb.engine: lessons, vectors
and keyword index there), the corpus ingested into it (embedding it again: minutes).

`--scale` times the keyword rankings (whole query and headline, as a search runs them) of the
126 Hadoop queries on `bench.bounded_paths`' cached 100,000-lesson store, on both engines, with
the term counts cold (each counted afresh, as after a write) and warm (cached).
"""

from __future__ import annotations

import argparse
import sys
import time

from bench.figures import percentile
from bench.kb_common import GitBugs, cache_dir, load_gitbugs
from bench.kb_quality import found_ranks, gitbugs_store, query_text, recalls
from kb import LessonStore
from kb.embedding import load_embedder
from kb.keyword import KeywordIndex, TermCounts
from kb.ranking import keyword_rankings
from testkit.postgres import NoServer, ThrowawayPostgres

ENGINES = ("sqlite", "postgres")


def keyword_store(data: GitBugs) -> LessonStore:
    """The Hadoop reports in a store without a model (keyword search only), cached."""
    import json

    corpus = cache_dir() / "gitbugs-hadoop.jsonl"
    lines = [
        json.dumps({"id": bug_id, "title": row["Summary"], "text": row["Description"] or "-"})
        for bug_id, row in data.bugs.items()
    ]
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    store = LessonStore(cache_dir() / "gitbugs-hadoop-keyword.db")
    store.ingest_paths([corpus])
    return store


def fill_postgres(store: LessonStore, url: str) -> KeywordIndex:
    """The keyword index of a PostgreSQL lesson store at `url`, holding `store`'s active
    lessons under the same pks (nothing else: only the index is compared)."""
    other = LessonStore(url)
    with store.db.read() as conn:
        rows = conn.execute(
            "SELECT pk, title, text FROM lessons WHERE status = 'active' ORDER BY pk"
        ).fetchall()
    started = time.perf_counter()
    for start in range(0, len(rows), 500):
        with other.db.write():
            for pk, title, text in rows[start : start + 500]:
                other.keywords.index(pk, title, text)
    elapsed = time.perf_counter() - started
    print(f"indexed {len(rows):,} lessons in PostgreSQL in {elapsed:.1f} s")
    return other.keywords


def measure(
    store: LessonStore, data: GitBugs, mode: str
) -> tuple[dict[str, dict[int, float]], float]:
    started = time.perf_counter()
    found_at = found_ranks(store, data, data.pairs, mode)
    elapsed = (time.perf_counter() - started) / len(data.pairs) * 1000
    halves = {
        "all": recalls(found_at),
        "tuning": recalls(found_at[0::2]),
        "held-out": recalls(found_at[1::2]),
    }
    return halves, elapsed


def scale(data: GitBugs, server: ThrowawayPostgres) -> None:
    """Keyword ranking time per query at 100,000 lessons, SQLite beside PostgreSQL."""
    db = cache_dir() / "bounded-paths-100k.db"
    if not db.exists():
        print(f"skipped --scale: {db} is absent; python -m bench.bounded_paths builds it")
        return
    store = LessonStore(db)
    indexes = {"sqlite": store.keywords, "postgres": fill_postgres(store, server.create_database())}
    queries = [query_text(data.bugs[query_id]) for query_id, _ in data.pairs]
    # Cold: each ranking counts its terms afresh, as the first search after a write does (a
    # write drops the cached counts). Warm: the counts of this generation already taken.
    timings: dict[tuple[str, str], list[float]] = {
        (counts, engine): [] for counts in ("cold", "warm") for engine in ENGINES
    }
    term_counts = {engine: TermCounts() for engine in ENGINES}  # each engine keeps its own
    for counts in ("cold", "warming", "warm"):
        for query in queries:
            for engine in ENGINES:  # in turn, so a busy machine slows both alike
                store.keywords = indexes[engine]
                store._term_counts = TermCounts() if counts == "cold" else term_counts[engine]
                started = time.perf_counter()
                keyword_rankings(store, query, store.settings.candidates, "", [])
                if counts != "warming":
                    timings[counts, engine].append((time.perf_counter() - started) * 1000)
    for (counts, engine), taken in timings.items():
        print(
            f"  100,000 lessons, keyword rankings, term counts {counts}, {engine:8s}: p50 "
            f"{percentile(taken, 0.5):.1f} ms, p95 {percentile(taken, 0.95):.1f} ms"
        )
    store.keywords = indexes["sqlite"]
    store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", default="keyword,hybrid", help="comma-separated modes")
    parser.add_argument("--scale", action="store_true", help="time keyword ranking at 100k")
    parser.add_argument(
        "--real-store",
        action="store_true",
        help="compare with the whole lesson store on PostgreSQL (embeds the corpus there)",
    )
    args = parser.parse_args(argv or [])  # `python -m bench` calls main() with none
    modes = [mode.strip() for mode in args.modes.split(",") if mode.strip()]
    data = load_gitbugs()
    if data is None:
        return 0
    try:
        server = ThrowawayPostgres()
        server.start()
    except NoServer as exc:
        print(f"skipped: {exc}")
        return 0
    try:
        if args.scale:
            scale(data, server)
            return 0
        needs_model = any(mode != "keyword" for mode in modes)
        embedder = load_embedder() if needs_model else None
        store = gitbugs_store(data, embedder) if embedder else keyword_store(data)
        url = server.create_database()
        if args.real_store:
            # The whole lesson store on PostgreSQL (kb.engine), the corpus ingested there.
            other = LessonStore(url, embedder)
            started = time.perf_counter()
            report = other.ingest_paths([cache_dir() / "gitbugs-hadoop.jsonl"])
            print(
                f"ingested {report.summary()} into PostgreSQL"
                f" in {time.perf_counter() - started:.0f} s"
            )
        else:
            # The SQLite store again, its keyword index swapped for PostgreSQL's.
            other = LessonStore(store.path, embedder)
            other.keywords = fill_postgres(store, url)
        stores = {"sqlite": store, "postgres": other}
        print(f"corpus: {len(data.bugs)} reports, {len(data.pairs)} duplicate queries")
        results: dict[tuple[str, str], dict[str, dict[int, float]]] = {}
        for mode in modes:
            for engine in ENGINES:
                halves, elapsed = measure(stores[engine], data, mode)
                results[mode, engine] = halves
                print(
                    f"  {mode:8s} {engine:8s}  "
                    + "  ".join(
                        f"{half} R@5 {r[5]:.3f} R@10 {r[10]:.3f}" for half, r in halves.items()
                    )
                    + f"   ({elapsed:.0f} ms/query)"
                )
            worst = max(
                abs(results[mode, "sqlite"][half][k] - results[mode, "postgres"][half][k])
                for half in ("all", "tuning", "held-out")
                for k in (5, 10)
            )
            print(f"  {mode:8s} largest R@5/R@10 difference between the engines: {worst:.3f}")
        for opened in stores.values():
            opened.close()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
