"""Shared by the kb benchmarks: where the shared data and a reusable cache live."""

from __future__ import annotations

import os
import re
import tempfile
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
