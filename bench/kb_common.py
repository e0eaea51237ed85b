"""Shared by the kb benchmarks: where the shared data and a reusable cache live, and GitBugs."""

from __future__ import annotations

import csv
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CACHE = Path(
    os.environ.get("HINDSIGHT_BENCH_CACHE", Path(tempfile.gettempdir()) / "hindsight-bench")
)


def shared_folder(name: str) -> Path | None:
    """The shared data folder, or None after saying why the benchmark is skipped."""
    folder = SHARED_DATA / name
    if not folder.is_dir():
        print(f"skipped: {folder} is absent (it holds the real data this benchmark needs)")
        return None
    return folder


def cache_dir() -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    return CACHE


def model_slug(model: str) -> str:
    """A file-name-safe form of a model name, for caches kept per model."""
    return re.sub(r"[^a-z0-9]+", "-", model.lower()).strip("-")


@dataclass(frozen=True)
class GitBugs:
    """The Hadoop reports by id and the (query id, duplicate ids) pairs."""

    bugs: dict[str, dict[str, str]]
    pairs: list[tuple[str, set[str]]]

    @property
    def tuning(self) -> list[tuple[str, set[str]]]:
        return self.pairs[0::2]

    @property
    def held_out(self) -> list[tuple[str, set[str]]]:
        return self.pairs[1::2]


def load_gitbugs() -> GitBugs | None:
    """The shared GitBugs Hadoop data, or None (after saying why) when it is absent."""
    folder = shared_folder("gitbugs-hadoop")
    if folder is None:
        return None
    csv.field_size_limit(sys.maxsize)
    with open(folder / "hadoop_bugs.csv", encoding="utf-8", newline="") as handle:
        bugs = {row["Issue id"]: row for row in csv.DictReader(handle)}
    with open(folder / "hadoop_bugs-combined.csv", encoding="utf-8", newline="") as handle:
        pairs = [
            (row["Issue id"], {d.strip() for d in row["Duplicate id"].split(",") if d.strip()})
            for row in csv.DictReader(handle)
        ]
    return GitBugs(bugs, pairs)
