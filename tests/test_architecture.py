"""The house rules that keep the packages apart, checked on the source itself."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Code that is never shipped: the test suite, the benchmarks and the test doubles they share.
NOT_SHIPPED = {"tests", "bench", "testkit"}
# package -> top-level modules it must never import
FORBIDDEN = {
    "kb": {"flask", "werkzeug", "plugin", "webhooks", "hindsight", *NOT_SHIPPED},
    "plugin": {"flask", "werkzeug", "webhooks", "hindsight", *NOT_SHIPPED},
    "webhooks": {"hindsight", *NOT_SHIPPED},
    "hindsight": NOT_SHIPPED,
    # the doubles are shared by tests and benchmarks, so they import neither
    "testkit": {"tests", "bench"},
    "bench": {"tests"},
}


def _imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_point_one_way(package: str) -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {sorted(_imported_roots(path) & FORBIDDEN[package])}"
        for path in sorted((ROOT / package).rglob("*.py"))
        if _imported_roots(path) & FORBIDDEN[package]
    ]
    assert not offenders, "\n".join(offenders)


def test_import_checker_sees_imports(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import flask.json\nfrom werkzeug import Request\nfrom . import local\n")
    assert _imported_roots(sample) == {"flask", "werkzeug"}
