"""What the truthful result list costs: a page of `search_page` (the whole list, up to
`max_results`, ranked once, then sorted and cut) against the top 25 of `search`, and the
listings behind tag, project and retrospectives links, on a synthetic store.

The store holds LESSONS lessons in RETROS retrospectives (JSONL, seeded random words) with the
deterministic hashing embedder from testkit, so the figures are those of the kb's own work
(FTS5, fusion, rows, snippets, SQL counts), not of a model; add the model's query embedding
(bench/kb_scale.py) for a real query's latency.
"""

from __future__ import annotations

import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from kb.store import LessonStore
from testkit.kb import HashingEmbedder

LESSONS = 20_000
RETROS = 400
REPEATS = 7
WORDS = (
    "migration", "rollback", "deploy", "freeze", "vendor", "contract", "certificate",
    "monitoring", "alert", "handover", "database", "schema", "release", "window", "staging",
    "rehearsal", "capacity", "load", "test", "scope", "estimate", "risk", "owner", "review",
    "approval", "change", "board", "incident", "outage", "customer", "partner", "budget",
    "schedule",
)  # fmt: skip
QUERIES = ["database migration rollback", "vendor contract delay", "certificate alert"]


def _corpus(folder: Path) -> None:
    rng = random.Random(7)
    per_retro = LESSONS // RETROS
    for r in range(RETROS):
        lines = []
        for n in range(per_retro):
            words = " ".join(rng.choice(WORDS) for _ in range(18))
            lines.append(
                json.dumps(
                    {
                        "text": f"Lesson {r}-{n}: {words}.",
                        "project": f"P{r % 20}",
                        "tags": [rng.choice(WORDS)],
                        "date": f"20{20 + r % 6}-{1 + n % 12:02d}-{1 + n % 28:02d}",
                        "votes": rng.randrange(40),
                    }
                )
            )
        (folder / f"retro-{r:04d}.jsonl").write_text("\n".join(lines))


def _median_ms(work: Callable[[], object]) -> float:
    work()  # warm: the vector matrix and term counts load once per store generation
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "retros"
        folder.mkdir()
        _corpus(folder)
        store = LessonStore(Path(tmp) / "kb.db", HashingEmbedder())
        started = time.perf_counter()
        store.ingest_paths([folder])
        print(f"store: {LESSONS:,} lessons in {RETROS} retrospectives, ingested in "
              f"{time.perf_counter() - started:.1f} s (hashing embedder)")  # fmt: skip
        for mode in ("keyword", "hybrid"):
            for query in QUERIES:
                top = _median_ms(lambda: store.search(query, limit=25, mode=mode))  # noqa: B023
                page = store.search_page(query, limit=25, mode=mode)
                first = _median_ms(lambda: store.search_page(query, limit=25, mode=mode))  # noqa: B023
                tenth = _median_ms(
                    lambda: store.search_page(query, offset=225, limit=25, mode=mode, sort="date")  # noqa: B023
                )
                total = f"{'more than ' if page.capped else ''}{page.total}"
                print(
                    f"{mode:8} {query!r:32} search top 25: {top:6.1f} ms | search_page page 1: "
                    f"{first:6.1f} ms, page 10 by date: {tenth:6.1f} ms | results: {total}"
                )
        print(
            f"browse tag (count + page 1):   {_median_ms(lambda: store.browse(tag='risk')):6.1f} ms"
        )
        print(f"browse project, page 40:      "
              f"{_median_ms(lambda: store.browse(project='P3', offset=975)):6.1f} ms")  # fmt: skip
        listed = _median_ms(lambda: store.retrospectives(limit=50))
        print(f"retrospectives list, page 1:  {listed:6.1f} ms")
        retro_id = store.retrospectives(limit=1)[0][0].id
        print(f"one retrospective by id:      "
              f"{_median_ms(lambda: store.retrospective(retro_id)):6.1f} ms")  # fmt: skip
        store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
