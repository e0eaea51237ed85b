"""Several processes on one store, on each engine (store_location): two ingests at once lose
nothing, searches during an ingest see whole sources only, a write by another process is seen
by the next search (vectors included), and processes starting together migrate once."""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path

from kb import LessonStore
from kb.engine import is_postgres
from testkit.kb import HashingEmbedder


def _ingest_folder(db: str, folder: str) -> None:
    with LessonStore(db, HashingEmbedder()) as store:
        report = store.ingest_paths([folder])
        assert not report.errors


def _open(db: str, start: multiprocessing.synchronize.Event) -> None:
    start.wait(timeout=60)
    LessonStore(db, HashingEmbedder()).close()


def _write_sources(folder: Path, prefix: str, files: int, lessons: int) -> None:
    folder.mkdir()
    for n in range(files):
        bullets = "\n".join(f"- {prefix} lesson {n}-{i} about rollback" for i in range(lessons))
        (folder / f"{prefix}{n}.md").write_text(f"## Lessons learned\n{bullets}\n")


def _run(*workers: multiprocessing.process.BaseProcess) -> None:
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0


def test_two_processes_ingesting_at_once_lose_nothing(tmp_path: Path, store_location: str) -> None:
    db = store_location
    LessonStore(db, HashingEmbedder()).close()  # schema first, like a deployed store
    _write_sources(tmp_path / "a", "alpha", files=30, lessons=5)
    _write_sources(tmp_path / "b", "beta", files=30, lessons=5)
    context = multiprocessing.get_context("spawn")
    _run(
        *(
            context.Process(target=_ingest_folder, args=(db, str(tmp_path / name)))
            for name in ("a", "b")
        )
    )
    with LessonStore(db, HashingEmbedder()) as store:
        stats = store.stats()
        assert (stats.sources, stats.lessons, stats.lessons_without_vectors) == (60, 300, 0)
        assert store.keywords.documents() == 300


def test_a_write_by_another_process_is_seen_by_the_next_search(
    tmp_path: Path, store_location: str
) -> None:
    db = store_location
    _write_sources(tmp_path / "first", "alpha", files=2, lessons=3)
    (tmp_path / "later").mkdir()
    (tmp_path / "later" / "kafka.md").write_text(
        "## Lessons learned\n- Kafka consumer lag hid the stuck partition rebalance\n"
    )
    with LessonStore(db, HashingEmbedder()) as store:
        store.ingest_paths([tmp_path / "first"])
        query = "kafka consumer lag partition rebalance"
        before = store.search(query, mode="semantic")
        assert store._matrix is not None and len(store._matrix.lesson_pks) == 6
        assert all("kafka" not in hit.lesson.text.lower() for hit in before)

        context = multiprocessing.get_context("spawn")
        _run(context.Process(target=_ingest_folder, args=(db, str(tmp_path / "later"))))

        # This process wrote nothing: the generation counter the other one moved says to
        # reload the vectors, and both rankings see the new lesson.
        [semantic] = store.search(query, limit=1, mode="semantic")
        assert "Kafka" in semantic.lesson.text and len(store._matrix.lesson_pks) == 7
        [keyword] = store.search("kafka rebalance", limit=1, mode="keyword")
        assert keyword.lesson.id == semantic.lesson.id


def test_processes_starting_together_apply_each_schema_step_once(store_location: str) -> None:
    db = store_location
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    workers = [context.Process(target=_open, args=(db, start)) for _ in range(3)]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    with LessonStore(db, HashingEmbedder()) as store:
        table = "hindsight_migrations" if is_postgres(db) else "_sqlite_migrations"
        with store.db.read() as conn:
            steps = conn.execute(
                f"SELECT name, count(*) FROM {table} WHERE migration_set = 'hindsight_kb'"
                " GROUP BY name ORDER BY name"
            ).fetchall()
        assert [tuple(row) for row in steps] == [
            ("m001_initial", 1),
            ("m002_source_index", 1),
            ("m003_curation", 1),
            ("m004_action_items", 1),
            ("m005_lexeme_counts", 1),
        ]
        assert store.is_empty()


def test_searches_during_ingest_see_whole_sources(tmp_path: Path, store_location: str) -> None:
    db = store_location
    _write_sources(tmp_path / "docs", "gamma", files=40, lessons=7)
    seen_counts: list[int] = []
    searching = threading.Event()
    done = threading.Event()

    def search_repeatedly() -> None:
        with LessonStore(db, HashingEmbedder()) as reader:
            while True:
                finished = done.is_set()
                hits = reader.search("gamma lesson rollback", limit=1000, mode="keyword")
                seen_counts.append(len(hits))
                searching.set()
                if finished:
                    return

    with LessonStore(db, HashingEmbedder()) as writer:
        thread = threading.Thread(target=search_repeatedly)
        thread.start()
        # a busy machine may finish the ingest before the reader's first search: wait for it
        assert searching.wait(timeout=60)
        try:
            writer.ingest_paths([tmp_path / "docs"])
        finally:
            done.set()
            thread.join()
    assert seen_counts[-1] == 40 * 7  # the last search ran after the ingest
    assert all(count % 7 == 0 for count in seen_counts)


class _SlowVectorReads:
    """The store's engine, counting the vector loads and making each take a while."""

    def __init__(self, engine: object) -> None:
        self._engine = engine
        self.loads = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self._engine, name)

    def batches(self, *args: object) -> object:
        self.loads += 1
        time.sleep(0.3)
        return self._engine.batches(*args)


def test_threads_searching_after_a_write_share_one_reload(
    tmp_path: Path, store_location: str
) -> None:
    _write_sources(tmp_path / "docs", "delta", files=3, lessons=4)
    with LessonStore(store_location, HashingEmbedder()) as store:
        store.ingest_paths([tmp_path / "docs"])
        store.engine = slow = _SlowVectorReads(store.engine)
        start = threading.Barrier(4)
        found: list[int] = []

        def search() -> None:
            start.wait(timeout=30)
            found.append(len(store.search("delta rollback", limit=20, mode="semantic")))

        threads = [threading.Thread(target=search) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert found == [12] * 4
        assert slow.loads == 1  # PostgreSQL runs the four side by side: one loads, three wait
