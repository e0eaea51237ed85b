"""Search latency, memory and ingest speed with 100,000 lessons.

The 100,000 lessons are synthesised from the real post-mortems: each recombines sentences of
real paragraphs. Embedding 100k texts with MiniLM takes over half an hour on 2 cores, so the
synthetic lessons get the real-model vector of the paragraph they mostly come from, slightly
perturbed (`PoolEmbedder`). Every query is embedded by the real model inside the timed
`search()` call. Two stores are measured in the same run: the shipped models (MiniLM and the
multilingual USE side by side) and MiniLM alone (what shipped before). Their hybrid p95 ratio
comes from a last pass that asks both stores each query in turn, so a change in the load of a
shared machine falls on both alike.

`--engine postgresql` (or `both`) measures the shipped models' store on a throwaway PostgreSQL
server on this machine (fsync on, as in production) instead of (or after) the SQLite file;
`--lessons N` a smaller corpus for a quick look.

    .venv/bin/python -m bench.kb_scale --engine both
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bench.figures import percentile
from bench.kb_common import cache_dir, model_slug, shared_folder
from kb import LessonStore
from kb.embedding import MINILM_MODEL_NAME, Embedder, VectorPart, load_embedder, vector_parts
from kb.ranking import current_matrix

LESSONS = 100_000  # the default corpus size (--lessons)
PER_FILE = 200
QUERIES = [
    "database migration rollback failed",
    "expired TLS certificate caused an outage",
    "deploy on Friday during a change freeze",
    "vendor delivered late and delayed the launch",
    "no load test before peak traffic",
    "on-call handover missed an alert",
    "DNS misconfiguration took the site down",
    "scope creep before release",
    "replication lag caused stale reads",
    "config change pushed to all regions at once",
    "disk full on the database server",
    "rate limiter blocked legitimate customers",
    "backup restore took far longer than expected",
    "memory leak after the upgrade",
    "cascading failure from retries",
    "数据库迁移回滚",
    "证书过期导致服务中断",
    "monitoring did not alert",
    "network partition between data centers",
    "customer data exposed by a bug",
]


def _distinct_queries() -> list[str]:
    """100 different query texts: each base query alone and in four contexts.

    No two timed searches share a text, so nothing keyed on the query text can be reused.
    """
    english = ["", " in production", " during the holidays", " for payments", " after the release"]
    chinese = ["", "（生产环境）", "在假期", "支付团队", "上次发布后"]
    contexts = zip(english, chinese, strict=True)
    return [
        query + (zh if any("\u4e00" <= char <= "\u9fff" for char in query) else en)
        for en, zh in contexts
        for query in QUERIES
    ]


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class PoolEmbedder:
    """Real-model vectors of a pool of real paragraphs, reused with small perturbations.

    A synthetic text names its pool paragraph in its first token (`#123`), so the vector it gets
    is the real embedding of the text it was built from.
    """

    def __init__(self, name: str, pool: np.ndarray, parts: tuple[VectorPart, ...]) -> None:
        self._name = name
        self._pool = pool
        self.parts = parts  # as the real embedder's: each part a unit vector of its own
        self._rng = np.random.default_rng(7)

    @property
    def name(self) -> str:
        return self._name

    @property
    def dimensions(self) -> int:
        return int(self._pool.shape[1])

    @property
    def max_tokens(self) -> int:
        return 256

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [int(len(text.split()) * 1.3) + 2 for text in texts]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        rows = []
        for text in texts:
            marker = text.split("#", 1)[1].split()[0] if "#" in text else "0"
            rows.append(self._pool[int(marker) % len(self._pool)])
        vectors = np.array(rows, dtype=np.float32)
        vectors += self._rng.normal(0, 0.02, vectors.shape).astype(np.float32)
        start = 0
        for part in self.parts:
            block = vectors[:, start : start + part.dimensions]
            block /= np.linalg.norm(block, axis=1, keepdims=True)
            start += part.dimensions
        return vectors


def _pool(folder: Path, embedder: Embedder) -> tuple[list[str], np.ndarray]:
    store = LessonStore(cache_dir() / f"postmortems-{model_slug(embedder.name)}.db", embedder)
    store.ingest_paths([folder])
    with store.db.read() as conn:
        rows = conn.execute(
            "SELECT l.title, l.text, c.vector FROM lessons l JOIN chunks c ON c.lesson_pk = l.pk "
            "WHERE c.seq = 0 ORDER BY l.pk"
        ).fetchall()
    store.close()
    texts = [f"{title}. {text}" for title, text, _ in rows]
    vectors = np.array([np.frombuffer(blob, dtype="<f4") for _, _, blob in rows])
    return texts, vectors


def _write_corpus(folder: Path, texts: list[str], lessons: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    if len(list(folder.glob("*.jsonl"))) == lessons // PER_FILE:
        return
    rng = random.Random(42)
    sentences = [[s for s in text.split(". ") if s] for text in texts]
    projects = ["PAY", "SHOP", "OPS", "API", "MOB", "DATA", "SEC", "PMO"]
    kinds = ["lesson", "went_wrong", "went_well", "action", "root_cause", "risk", "narrative"]
    n = 0
    for file_no in range(lessons // PER_FILE):
        lines = []
        for _ in range(PER_FILE):
            base = rng.randrange(len(texts))
            other = rng.randrange(len(texts))
            body = ". ".join(sentences[base][: rng.randint(1, 3)] + sentences[other][:1])
            lines.append(
                json.dumps(
                    {
                        "id": f"S{n:06d}",
                        "title": f"#{base} {body.split('. ')[0][:80]}",
                        "text": body,
                        "project": rng.choice(projects),
                        "kind": rng.choice(kinds),
                        "tags": [rng.choice(["db", "deploy", "vendor", "cert", "oncall"])],
                        "date": f"20{rng.randint(15, 25)}-{rng.randint(1, 12):02d}-15",
                    }
                )
            )
            n += 1
        (folder / f"part-{file_no:04d}.jsonl").write_text("\n".join(lines) + "\n")


def _fresh_sqlite(real: Embedder) -> Path:
    db = cache_dir() / f"scale-{model_slug(real.name)}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    return db


def _database_mb(store: LessonStore) -> float:
    if store.engine.name == "sqlite":
        return Path(store.path).stat().st_size / 1e6
    with store.db.read() as conn:
        return conn.execute("SELECT pg_database_size(current_database())").fetchone()[0] / 1e6


def _measure(
    label: str, real: Embedder, vectors: np.ndarray, corpus: Path, db: str | Path, lessons: int
) -> float:
    """Ingest the corpus into a fresh store at `db` (a SQLite file or a PostgreSQL URL) with
    `real`'s pool vectors, time searches with `real` embedding every query; returns the hybrid
    p95 (ms)."""
    print(f"--- {label}: {real.name}")
    pool_store = LessonStore(db, PoolEmbedder(real.name, vectors, vector_parts(real)))
    started = time.perf_counter()
    cold = pool_store.ingest_paths([corpus])
    cold_s = time.perf_counter() - started
    started = time.perf_counter()
    warm = pool_store.ingest_paths([corpus])
    warm_s = time.perf_counter() - started
    pool_store.close()
    print(
        f"ingest cold (store work only, vectors precomputed): {cold.lessons_written:,} lessons "
        f"in {cold_s:.1f} s = {cold.lessons_written / cold_s:,.0f} lessons/s"
    )
    print(
        f"re-ingest unchanged: {warm.lessons_seen:,} lessons in {warm_s:.2f} s = "
        f"{warm.lessons_seen / warm_s:,.0f} lessons/s (target >= 20,000)"
    )

    store = LessonStore(db, real)
    real.embed(["warm up"])
    rss_before = _rss_mb()
    started = time.perf_counter()
    store.search("warm up the vector matrix", limit=10)
    print(
        f"first search (loads {store.stats().vectors:,} vectors into memory): "
        f"{(time.perf_counter() - started) * 1000:.0f} ms"
    )
    queries = _distinct_queries()
    hybrid_p95 = 0.0
    for mode in ("hybrid", "keyword", "semantic"):
        timings = []
        for query in queries:
            started = time.perf_counter()
            store.search(query, limit=10, mode=mode)
            timings.append((time.perf_counter() - started) * 1000)
        p95 = percentile(timings, 0.95)
        hybrid_p95 = p95 if mode == "hybrid" else hybrid_p95
        print(
            f"{mode:8s} search over {lessons:,} lessons: p50 {percentile(timings, 0.5):.1f} ms, "
            f"p95 {p95:.1f} ms ({len(timings)} distinct queries, limit 10)"
        )
    filtered = []
    for query in QUERIES:
        started = time.perf_counter()
        store.search(query, limit=10, project="PAY", since="2020-01-01")
        filtered.append((time.perf_counter() - started) * 1000)
    print(
        f"hybrid + project/since filters: p50 {percentile(filtered, 0.5):.1f} ms, "
        f"p95 {percentile(filtered, 0.95):.1f} ms"
    )
    vectors_mb = current_matrix(store).nbytes() / 1e6  # as held in memory (kb.vectors)
    print(
        f"resident memory: {_rss_mb():.0f} MB ({rss_before:.0f} MB before the vector matrix was "
        f"loaded; the matrix {vectors_mb:.0f} MB); database {_database_mb(store):.0f} MB"
    )
    store.close()
    return hybrid_p95


def _hybrid_in_turn(stores: dict[str, tuple[Path, Embedder]]) -> dict[str, list[float]]:
    """Hybrid search timings (ms) of each store, asked every query in turn (who goes first
    alternates), so that the other processes of a shared machine weigh on all of them alike."""
    opened = {label: LessonStore(db, real) for label, (db, real) in stores.items()}
    timings: dict[str, list[float]] = {label: [] for label in opened}
    try:
        for store in opened.values():
            store.search("warm up the vector matrix", limit=10)
        for n, query in enumerate(_distinct_queries()):
            for label in list(opened)[:: 1 if n % 2 == 0 else -1]:
                started = time.perf_counter()
                opened[label].search(query, limit=10)
                timings[label].append((time.perf_counter() - started) * 1000)
    finally:
        for store in opened.values():
            store.close()
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument("--lessons", type=int, default=LESSONS, help="corpus size")
    args = parser.parse_args(argv if argv is not None else [])
    folder = shared_folder("postmortems-icco")
    if folder is None:
        return 0
    lessons = max(PER_FILE, args.lessons // PER_FILE * PER_FILE)
    shipped = load_embedder()
    texts, shipped_vectors = _pool(folder, shipped)
    corpus = cache_dir() / ("scale-corpus" if lessons == LESSONS else f"scale-corpus-{lessons}")
    _write_corpus(corpus, texts, lessons)
    print(
        f"corpus: {lessons:,} synthetic lessons in {lessons // PER_FILE} JSONL files, built "
        f"from {len(texts)} real post-mortem paragraphs; their vectors are real-model vectors "
        "of the source paragraph with N(0, 0.02) noise; queries use the real model"
    )
    p95s: dict[str, float] = {}
    shipped_db: Path | None = None
    if args.engine in ("sqlite", "both"):
        shipped_db = _fresh_sqlite(shipped)
        # The shipped models first: the process's memory then is theirs alone.
        p95s["sqlite"] = _measure(
            "shipped, SQLite", shipped, shipped_vectors, corpus, shipped_db, lessons
        )
    if args.engine in ("postgresql", "both"):
        from testkit.postgres import ThrowawayPostgres

        server = ThrowawayPostgres(durable=True)
        server.start()
        try:
            p95s["postgresql"] = _measure(
                "shipped, PostgreSQL",
                shipped,
                shipped_vectors,
                corpus,
                server.create_database(),
                lessons,
            )
        finally:
            server.stop()
    if args.engine == "sqlite":
        before = load_embedder(MINILM_MODEL_NAME)
        before_texts, before_vectors = _pool(folder, before)
        if texts != before_texts:
            raise RuntimeError("the two pools hold different paragraphs")
        before_db = _fresh_sqlite(before)
        assert shipped_db is not None  # measured above: engine "sqlite"
        before_p95 = _measure(
            "before (same run, for comparison)", before, before_vectors, corpus, before_db, lessons
        )
        print(
            f"hybrid p95 measured one after the other: shipped {p95s['sqlite']:.1f} ms vs MiniLM "
            f"alone {before_p95:.1f} ms = {p95s['sqlite'] / before_p95:.2f}x"
        )
        timings = _hybrid_in_turn(
            {"shipped": (shipped_db, shipped), "MiniLM alone": (before_db, before)}
        )
        for label, times in timings.items():
            print(
                f"hybrid in turn, {label}: p50 {percentile(times, 0.5):.1f} ms, "
                f"p95 {percentile(times, 0.95):.1f} ms"
            )
        ratio = percentile(timings["shipped"], 0.95) / percentile(timings["MiniLM alone"], 0.95)
        print(
            f"hybrid p95, the two stores asked in turn: shipped / MiniLM alone = {ratio:.2f}x "
            "(target <= 1.5x)"
        )
    if len(p95s) == 2:
        print(
            f"hybrid p95 at {lessons:,} lessons: SQLite {p95s['sqlite']:.1f} ms, PostgreSQL"
            f" {p95s['postgresql']:.1f} ms = {p95s['postgresql'] / p95s['sqlite']:.2f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
