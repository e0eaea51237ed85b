"""Every benchmark module imports: a rename in the product cannot silently break `bench/`.

Benchmarks are not run by the suite (they print figures and take minutes), so without this a
moved name shows up only when someone next runs `python3 dev.py bench`.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from bench.figures import percentile

BENCH = Path(__file__).resolve().parents[1] / "bench"
MODULES = sorted(p.stem for p in BENCH.glob("*.py") if p.stem not in {"__init__", "__main__"})


@pytest.mark.parametrize("name", MODULES)
def test_benchmark_module_imports(name: str) -> None:
    importlib.import_module(f"bench.{name}")


def test_percentile_is_nearest_rank() -> None:
    samples = [float(n) for n in range(100, 0, -1)]
    assert percentile(samples, 0.95) == 95.0
    assert percentile(samples, 0.5) == 50.0
    assert percentile(samples, 1.0) == 100.0
    assert percentile([7.0], 0.99) == 7.0
