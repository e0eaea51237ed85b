"""Worst cases of the bounded paths (issue 10): policy validation, the longest query, ingest.

Each costly path that takes outside input has a limit; this measures what one call costs at
that limit, and what refusing an input over it costs:
- `POST /api/policy/validate` through the real app: bodies at the 256 KiB limit shaped to cost
  the most (the largest valid policy, 6,000 broken rules, keys up to the value limit, an alias
  bomb, deep nesting), and 1 MiB bodies refused with 413 (Content-Length and chunked);
- the longest allowed query (MAX_QUERY_CHARS) on a store of 100,000 lessons, hybrid mode, on
  the store and through `GET /api/lessons/search`; a 50 KB query refused with 400;
- `hindsight ingest` of the largest allowed file (Markdown and JSONL at MAX_FILE_BYTES), and of
  a 200 MB file refused by its size.
Times are the worst of several runs (distinct inputs where a cache could help); peak memory is
Python's own allocations (tracemalloc) unless it says RSS.
"""

from __future__ import annotations

import io
import json
import random
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.kb_common import cache_dir, load_gitbugs
from kb import LessonStore, SentenceTransformerEmbedder
from kb.readers.markdown import FRONT_MATTER_LIMITS
from kb.search import MAX_QUERY_CHARS
from kb.store import MAX_FILE_BYTES
from plugin.policy.loader import POLICY_MAX_BYTES, POLICY_YAML_LIMITS

LESSONS = 100_000
MIB = 1024 * 1024


def _worst_ms(run: Callable[[], Any], times: int = 3) -> tuple[float, Any]:
    """The slowest of `times` calls, in ms, and the last call's result."""
    worst, result = 0.0, None
    for _ in range(times):
        started = time.perf_counter()
        result = run()
        worst = max(worst, (time.perf_counter() - started) * 1000)
    return worst, result


def _peak_mb(run: Callable[[], Any]) -> float:
    """Peak Python allocations of one call, in MB (tracemalloc slows it: never timed)."""
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1] / MIB
    finally:
        tracemalloc.stop()


def _reset_peak_rss() -> bool:
    """Start measuring peak RSS afresh (Linux: VmHWM); False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _peak_rss_mb() -> float:
    """Peak resident memory since the last reset (else since the process started)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# ---------------------------------------------------------------------------- policy validate


def _policy_bodies() -> dict[str, bytes]:
    """Bodies at the limit, each shaped to cost the most in one way."""
    limit = POLICY_MAX_BYTES
    rule = (
        "  - name: rule-{i}\n    kind: change-control\n"
        "    scope: {{projects: [P{i}, Q{i}], issue_types: [Change, Task]}}\n"
        "    guard: {{statuses: [Deploying, Done]}}\n"
        "    requires: {{fields: [Backout plan, Risk, Impact, Owner]}}\n"
    )
    rules, size, i = [], 0, 0
    while True:  # the largest valid policy: rules until the byte or the value limit
        text = rule.format(i=i)
        if size + len(text) > limit - 100 or (i + 1) * 30 > POLICY_YAML_LIMITS.max_values - 10:
            break
        rules.append(text)
        size += len(text)
        i += 1
    valid = "version: 1\nrules:\n" + "".join(rules)
    broken_rules = (POLICY_YAML_LIMITS.max_values - 10) // 3  # 3 values each
    broken = "version: 1\nrules:\n" + "- {name: BAD}\n" * broken_rules
    keys = "".join(f"k{i:06d}: v\n" for i in range(limit // 11))
    bomb = ["version: 1", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    bomb += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    deep = "version: 1\nrules:\n" + "".join(" " * d + "- \n" for d in range(1, 40))
    long_string = (
        "version: 1\nrules:\n  - name: long\n    kind: change-control\n"
        "    guard: {statuses: [Done]}\n    requires: {fields: [A]}\n"
        "    description: " + "x" * (limit - 160) + "\n"
    )
    bodies = {
        f"largest valid policy ({len(rules)} rules)": valid,
        f"{broken_rules:,} broken rules (the first 100 problems reported)": broken,
        "keys up to the value limit (refused)": keys,
        "alias bomb (refused at its first excess)": "\n".join(bomb) + "\n",
        "nesting past the depth limit (refused)": deep,
        "a rule with a 256 KiB description": long_string,
    }
    encoded = {name: text.encode() for name, text in bodies.items()}
    assert all(len(body) <= limit for body in encoded.values()), "a body is over the limit"
    return encoded


def _validate_bench() -> None:
    from hindsight.config import load_settings
    from hindsight.wiring import Config, build_runtime
    from hindsight.wsgi import create_app

    print(
        f"POST /api/policy/validate (in-process, real app): body limit {POLICY_MAX_BYTES:,} "
        f"bytes; YAML limits: depth {POLICY_YAML_LIMITS.max_depth}, "
        f"{POLICY_YAML_LIMITS.max_values:,} values, {POLICY_YAML_LIMITS.max_aliases:,} aliases"
    )
    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings(
            environ={},
            overrides={"db": Path(folder) / "h.db", "webhook_secret": ["bench"]},
        )
        app = create_app(runtime=build_runtime(Config(settings), installers=[]))
        client = app.test_client()
        client.post("/api/policy/validate", data="version: 1\n")  # builds the web context
        for name, body in _policy_bodies().items():
            post = lambda body=body: client.post("/api/policy/validate", data=body)  # noqa: E731
            worst, response = _worst_ms(post)
            peak = _peak_mb(post)
            print(
                f"  {name:48s} {len(body) / 1024:6.0f} KiB -> {response.status_code}  "
                f"worst {worst:7.1f} ms  peak {peak:5.1f} MB"
            )
        big = b"k: v\n" * (MIB // 5 + 1)
        worst, response = _worst_ms(lambda: client.post("/api/policy/validate", data=big))
        print(f"  1 MiB body with Content-Length                    -> {response.status_code}  "
              f"worst {worst:7.1f} ms")  # fmt: skip
        chunked = lambda: client.post(  # noqa: E731
            "/api/policy/validate",
            input_stream=io.BytesIO(big),
            headers={"Transfer-Encoding": "chunked"},
            environ_overrides={"wsgi.input_terminated": True},
        )
        worst, response = _worst_ms(chunked)
        print(f"  1 MiB body, chunked                               -> {response.status_code}  "
              f"worst {worst:7.1f} ms")  # fmt: skip


# ---------------------------------------------------------------------------- search


class _RandomVectors:
    """Random unit vectors under the real model's name: a store to search, built in seconds.

    Search cost does not depend on what the stored vectors say, only on how many there are.
    """

    def __init__(self, name: str, dimensions: int) -> None:
        self._name, self._dimensions = name, dimensions
        self._rng = np.random.default_rng(3)

    @property
    def name(self) -> str:
        return self._name

    @property
    def dimensions(self) -> int:
        return self._dimensions

    @property
    def max_tokens(self) -> int:
        return 256

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [int(len(text.split()) * 1.3) + 2 for text in texts]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self._rng.normal(size=(len(texts), self._dimensions)).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _bugs() -> list[dict[str, str]]:
    data = load_gitbugs()
    return [] if data is None else list(data.bugs.values())


def _store_100k(bugs: list[dict[str, str]], real: SentenceTransformerEmbedder) -> Path:
    """bench.kb_scale's store when it is cached, else 100,000 GitBugs-based lessons (cached)."""
    scale = cache_dir() / "scale.db"
    if scale.exists():
        with LessonStore(scale) as store:
            if store.stats().lessons >= LESSONS:
                print(f"  store: bench.kb_scale's cached {LESSONS:,} lessons ({scale})")
                return scale
    db = cache_dir() / "bounded-paths-100k.db"
    if db.exists():
        with LessonStore(db) as store:
            if store.stats().lessons >= LESSONS:
                print(f"  store: {LESSONS:,} lessons cached by an earlier run ({db})")
                return db
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    corpus = cache_dir() / "bounded-paths-corpus"
    corpus.mkdir(exist_ok=True)
    rng = random.Random(11)
    sentences = [
        s.strip()
        for bug in bugs
        for s in (bug["Summary"] + ". " + bug["Description"][:600]).split(". ")
        if 20 < len(s.strip()) < 300
    ]
    for part in range(LESSONS // 1_000):
        lines = []
        for n in range(1_000):
            text = ". ".join(rng.sample(sentences, rng.randint(1, 4)))
            lines.append(
                json.dumps({"id": f"B{part:03d}{n:03d}", "title": text[:80], "text": text})
            )
        (corpus / f"part-{part:03d}.jsonl").write_text("\n".join(lines) + "\n")
    started = time.perf_counter()
    with LessonStore(db, _RandomVectors(real.name, real.dimensions)) as store:
        store.ingest_paths([corpus])
    print(
        f"  store: built {LESSONS:,} lessons from GitBugs sentences in "
        f"{time.perf_counter() - started:.0f} s (random vectors: search cost depends on their "
        f"number, not their values), cached in {db}"
    )
    return db


def _queries(bugs: list[dict[str, str]]) -> dict[str, list[str]]:
    """Six distinct queries of MAX_QUERY_CHARS characters per shape: 3 for the store, 3 for HTTP."""
    longest = sorted(bugs, key=lambda bug: -len(bug["Description"]))
    distinct = [(b["Summary"] + "\n" + b["Description"])[:MAX_QUERY_CHARS] for b in longest[:6]]
    counts: dict[str, int] = {}
    for bug in bugs:
        for word in (bug["Summary"] + " " + bug["Description"][:400]).lower().split():
            if word.isalpha() and len(word) > 3:
                counts[word] = counts.get(word, 0) + 1
    common = sorted(counts, key=counts.__getitem__, reverse=True)[:400]
    rng = random.Random(5)
    frequent = [" ".join(rng.sample(common, 300))[:MAX_QUERY_CHARS] for _ in range(6)]
    zh_source = Path(__file__).resolve().parents[1] / "hindsight" / "examples" / "retrospectives"
    zh = "".join(
        ch
        for path in sorted(zh_source.glob("*-zh.md"))
        for ch in path.read_text(encoding="utf-8")
        if "\u4e00" <= ch <= "\u9fff"
    )
    chinese = [(zh[start:] + zh) * 4 for start in (0, 50, 100, 150, 200, 250)]
    return {
        "English, 2,000 chars of a bug report": distinct,
        "English, 2,000 chars of the most common words": frequent,
        "Chinese, 2,000 characters": [text[:MAX_QUERY_CHARS] for text in chinese],
    }


def _search_bench() -> None:
    bugs = _bugs()
    if not bugs:
        return
    real = SentenceTransformerEmbedder()
    print(f"longest allowed query: {MAX_QUERY_CHARS:,} characters, hybrid mode, limit 25")
    db = _store_100k(bugs, real)
    queries = _queries(bugs)
    store = LessonStore(db, real)
    store.search("warm up the model and the vector matrix", limit=10)
    rss = _rss_mb()
    resettable = _reset_peak_rss()
    for name, texts in queries.items():
        timings = []
        for text in texts[:3]:
            started = time.perf_counter()
            store.search(text, limit=25)
            timings.append((time.perf_counter() - started) * 1000)
        print(
            f"  store  {name:46s} worst {max(timings):7.0f} ms  "
            f"median {statistics.median(timings):6.0f} ms"
        )
    if resettable:
        print(
            f"  peak RSS over these queries {_peak_rss_mb():.0f} MB, {rss:.0f} MB before them "
            "(model and the 100,000 lessons' vectors loaded)"
        )
    too_long = "rollback " * 5_600
    worst, _ = _worst_ms(lambda: _refused(store, too_long))
    print(f"  store  a 50 KB query, refused                       worst {worst:7.2f} ms")
    _api_search(store, queries)
    store.close()


def _refused(store: LessonStore, query: str) -> None:
    from kb.errors import InvalidQueryError

    try:
        store.search(query)
    except InvalidQueryError:
        return
    raise AssertionError("a query over the cap was searched")


def _api_search(store: LessonStore, queries: dict[str, list[str]]) -> None:
    from flask import Flask

    from plugin.lessons.services import LessonsOptions, build_services
    from webhooks.web import LessonsWeb, register_lessons_web

    with tempfile.TemporaryDirectory() as folder:
        options = LessonsOptions(db=Path(folder) / "journal.db", feedback_secrets=("bench",))
        services = build_services(options, store=store)
        app = Flask("bench")
        register_lessons_web(app, LessonsWeb(services=services))
        client = app.test_client()
        for name, texts in queries.items():
            timings, status = [], 0
            for text in texts[3:]:
                started = time.perf_counter()
                response = client.get("/api/lessons/search", query_string={"q": text, "limit": 25})
                timings.append((time.perf_counter() - started) * 1000)
                status = response.status_code
            print(f"  API    {name:46s} worst {max(timings):7.0f} ms  -> {status}")
        worst, response = _worst_ms(
            lambda: client.get("/api/lessons/search", query_string={"q": "rollback " * 5_600})
        )
        print(f"  API    a 50 KB query                             -> {response.status_code}  "
              f"worst {worst:7.2f} ms")  # fmt: skip


# ---------------------------------------------------------------------------- ingest


def _largest_files(folder: Path, bugs: list[dict[str, str]]) -> dict[str, Path]:
    """A Markdown retrospective and a JSONL file, each just under MAX_FILE_BYTES."""
    rng = random.Random(17)
    texts = [f"{b['Summary']}. {b['Description'][:400]}".replace("\n", " ") for b in bugs] or [
        "The rollback was not rehearsed before the release, so it failed under load."
    ]
    markdown = ["---", "title: A very long retrospective", "project: BIG", "---", ""]
    size, section = 0, 0
    while size < MAX_FILE_BYTES - 2_000:
        if section % 50 == 0:
            markdown.append(f"\n## Lessons learned ({section // 50})\n")
        line = "- " + rng.choice(texts)
        markdown.append(line)
        size += len(line.encode()) + 1
        section += 1
    md = folder / "largest.md"
    data = "\n".join(markdown).encode()[: MAX_FILE_BYTES - 1_000]
    md.write_bytes(data.decode("utf-8", "ignore").encode() + b"\n")
    lines, size, n = [], 0, 0
    while True:
        line = json.dumps({"id": f"J{n}", "text": rng.choice(texts), "project": "BIG"})
        if size + len(line) + 1 > MAX_FILE_BYTES:
            break
        lines.append(line)
        size += len(line) + 1
        n += 1
    jsonl = folder / "largest.jsonl"
    jsonl.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"Markdown": md, "JSONL": jsonl}


def _ingest_bench() -> None:
    bugs = _bugs()
    print(
        f"ingest: per-file limit {MAX_FILE_BYTES:,} bytes (HINDSIGHT_INGEST_MAX_FILE_BYTES); "
        f"front matter within {FRONT_MATTER_LIMITS.max_bytes // 1024} KiB, depth "
        f"{FRONT_MATTER_LIMITS.max_depth}, {FRONT_MATTER_LIMITS.max_values:,} values"
    )
    real = SentenceTransformerEmbedder()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for kind, path in _largest_files(folder, bugs).items():
            db = folder / f"{kind}.db"
            # Reading, parsing, FTS indexing and the transaction, without the model.
            before = _rss_mb()
            resettable = _reset_peak_rss()
            started = time.perf_counter()
            with LessonStore(db) as store:
                report = store.ingest_paths([path])
            elapsed = time.perf_counter() - started
            rss = f", RSS +{_peak_rss_mb() - before:.0f} MB" if resettable else ""
            db.unlink()
            with LessonStore(folder / f"{kind}-peak.db") as store:
                peak = _peak_mb(lambda store=store, path=path: store.ingest_paths([path]))
            assert not report.errors, report.errors
            lessons = report.lessons_written
            texts = _texts_of(path)
            chunks = sum(len(_chunks(real, text)) for text in texts[:300]) * len(texts) / 300
            sample = [chunk for text in texts[:40] for chunk in _chunks(real, text)][:64]
            real.embed(sample[:4])
            started = time.perf_counter()
            real.embed(sample)
            per_chunk = (time.perf_counter() - started) / len(sample)
            print(
                f"  largest {kind:8s} file {path.stat().st_size / MIB:.2f} MiB, {lessons:,} "
                f"lessons: read+parse+index {elapsed:5.1f} s, peak {peak:4.0f} MB{rss}; embedding "
                f"~{chunks:,.0f} chunks at {per_chunk * 1000:.0f} ms each = "
                f"~{chunks * per_chunk / 60:.0f} min (measured on {len(sample)} of them)"
            )
        huge = folder / "huge.md"
        with huge.open("wb") as handle:
            handle.truncate(200 * MIB)  # sparse: no disk used
        with LessonStore(folder / "huge.db") as store:
            worst, report = _worst_ms(lambda: store.ingest_paths([huge]))
            peak = _peak_mb(lambda: store.ingest_paths([huge]))
        print(
            f"  a 200 MB file, refused by its size: worst {worst:.1f} ms, peak {peak:.2f} MB "
            f"({report.errors[0].error.split(': ', 1)[1][:60]}...)"
        )
        bomb = ["---", 'a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
        bomb += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
        (folder / "bomb.md").write_text("\n".join([*bomb, "---", "# T", "", "text"]) + "\n")
        with LessonStore(folder / "bomb.db") as store:
            worst, report = _worst_ms(lambda: store.ingest_paths([folder / "bomb.md"]))
        print(f"  a 1.3 KB front matter alias bomb, refused: worst {worst:.1f} ms")


def _texts_of(path: Path) -> list[str]:
    from kb.readers import read_bytes

    return [lesson.text for lesson in read_bytes(str(path), path.read_bytes()).lessons]


def _chunks(real: SentenceTransformerEmbedder, text: str) -> list[str]:
    from kb.chunking import embedding_inputs

    return embedding_inputs("", text, real.count_tokens, real.max_tokens) or [text]


def main() -> int:
    _validate_bench()
    _search_bench()
    _ingest_bench()
    return 0


if __name__ == "__main__":
    sys.exit(main())
