"""Run every benchmark module in bench/ (each `bench/<name>.py` exposing `main()`) in turn."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time

import bench


def main(argv: list[str]) -> int:
    wanted = set(argv)
    failures = 0
    for module_info in sorted(pkgutil.iter_modules(bench.__path__), key=lambda m: m.name):
        if module_info.name.startswith("_") or (wanted and module_info.name not in wanted):
            continue
        module = importlib.import_module(f"bench.{module_info.name}")
        entry = getattr(module, "main", None)
        if not callable(entry):
            continue
        print(f"\n=== bench.{module_info.name} ===", flush=True)
        started = time.perf_counter()
        try:
            status = entry()
        except Exception as error:  # one broken benchmark must not hide the others' figures
            print(f"bench.{module_info.name} failed: {error!r}", flush=True)
            status = 1
        failures += 1 if status else 0
        print(f"(bench.{module_info.name} took {time.perf_counter() - started:.1f} s)", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
