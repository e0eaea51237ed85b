"""Two ingests at once lose nothing; searches during an ingest see whole sources only."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

from kb import LessonStore
from testkit.kb import HashingEmbedder


def _ingest_folder(db: str, folder: str) -> None:
    with LessonStore(db, HashingEmbedder()) as store:
        report = store.ingest_paths([folder])
        assert not report.errors


def _write_sources(folder: Path, prefix: str, files: int, lessons: int) -> None:
    folder.mkdir()
    for n in range(files):
        bullets = "\n".join(f"- {prefix} lesson {n}-{i} about rollback" for i in range(lessons))
        (folder / f"{prefix}{n}.md").write_text(f"## Lessons learned\n{bullets}\n")


def test_two_processes_ingesting_at_once_lose_nothing(tmp_path: Path) -> None:
    db = str(tmp_path / "kb.db")
    LessonStore(db, HashingEmbedder()).close()  # schema first, like a deployed store
    _write_sources(tmp_path / "a", "alpha", files=30, lessons=5)
    _write_sources(tmp_path / "b", "beta", files=30, lessons=5)
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_ingest_folder, args=(db, str(tmp_path / name)))
        for name in ("a", "b")
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    with LessonStore(db, HashingEmbedder()) as store:
        stats = store.stats()
        assert (stats.sources, stats.lessons, stats.lessons_without_vectors) == (60, 300, 0)
        with store.db.read() as conn:
            fts_rows = conn.execute("SELECT count(*) FROM lessons_fts").fetchone()[0]
        assert fts_rows == 300


def test_searches_during_ingest_see_whole_sources(tmp_path: Path) -> None:
    db = tmp_path / "kb.db"
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
