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


# -- the composition root: hindsight/wiring.py alone turns the settings into typed options

SETTINGS_READERS = {"hindsight/config.py", "hindsight/wiring.py"}
# kb/embedding.py sets (never reads) the Hugging Face offline switches before loading a model
ENVIRON_WRITERS = {"kb/embedding.py"}
PRODUCT = ("hindsight", "webhooks", "plugin", "kb")


def _product_files() -> list[Path]:
    return [path for package in PRODUCT for path in sorted((ROOT / package).rglob("*.py"))]


def _reads_settings(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "hindsight.config":
            return True
        if isinstance(node, ast.Import) and any(a.name == "hindsight.config" for a in node.names):
            return True
    return False


def _uses_environ(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in ("environ", "getenv", "environb")
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
        ):
            return True
        if (
            isinstance(node, ast.ImportFrom)
            and node.module == "os"
            and any(a.name in ("environ", "getenv") for a in node.names)
        ):
            return True
    return False


def test_only_the_wiring_reads_the_settings() -> None:
    offenders = []
    for path in _product_files():
        name = str(path.relative_to(ROOT))
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=name)
        if name not in SETTINGS_READERS and _reads_settings(tree):
            offenders.append(f"{name} imports hindsight.config (take typed options instead)")
        if name not in SETTINGS_READERS | ENVIRON_WRITERS and _uses_environ(tree):
            offenders.append(f"{name} reads os.environ (settings come from hindsight.wiring)")
    assert not offenders, "\n".join(offenders)


WIRED = ["hindsight/wiring.py", "plugin/policy/install.py", "plugin/lessons/install.py"]


@pytest.mark.parametrize("name", WIRED)
def test_the_wiring_is_typed(name: str) -> None:
    """No `Any`, no getattr, no service locator between the composition root and the areas."""
    tree = ast.parse((ROOT / name).read_text(encoding="utf-8"), filename=name)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in ("Any", "getattr", "cast"):
            found.append(f"{name}:{node.lineno}: {node.id}")
        if isinstance(node, ast.FunctionDef) and node.name == "__getattr__":
            found.append(f"{name}:{node.lineno}: __getattr__ proxy")
    assert not found, "\n".join(found)


def test_the_checkers_see_what_they_look_for() -> None:
    assert _reads_settings(ast.parse("from hindsight.config import Settings"))
    assert _uses_environ(ast.parse("import os\nos.environ.get('X')"))
    assert _uses_environ(ast.parse("from os import getenv"))
    assert not _uses_environ(ast.parse("environ = {}\nenviron.get('X')"))


def test_one_clock() -> None:
    """The time enters through kb.clock.Clock; tests move testkit.clock.StepClock."""
    homes = {"kb/clock.py", "testkit/clock.py"}
    offenders = []
    for package in (*PRODUCT, "testkit", "tests", "bench"):
        for path in sorted((ROOT / package).rglob("*.py")):
            name = str(path.relative_to(ROOT))
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=name)
            for node in ast.walk(tree):
                defined = (
                    [node.name]
                    if isinstance(node, ast.ClassDef)
                    else [t.id for t in node.targets if isinstance(t, ast.Name)]
                    if isinstance(node, ast.Assign)
                    else []
                )
                if name not in homes and any(d.endswith("Clock") for d in defined):
                    offenders.append(f"{name}:{node.lineno}: {', '.join(defined)}")
    assert not offenders, "\n".join(offenders)
