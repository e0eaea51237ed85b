#!/usr/bin/env python3
"""Set up Hindsight's virtualenv and run one task in it.

    python3 dev.py demo    # set up, then run the main job on embedded defaults
    python3 dev.py test    # set up, then run the whole test suite: ruff, then pytest (CI)
    python3 dev.py setup   # only set up (.venv in this folder)
    python3 dev.py lint    # ruff check and format --check
    python3 dev.py bench   # run every benchmark in bench/ and print the figures

Needs nothing but Python 3.11. Set-up is skipped when pyproject.toml has not changed since the
last one. torch is pinned to 2.13.0 and installed first: that is the CPU build these machines keep
on disk, and it stops pip from pulling a multi-GB CUDA build for sentence-transformers.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
STAMP = VENV / ".setup-stamp"
TORCH = "torch==2.13.0"


def run(*cmd: str | Path, **kwargs) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, **kwargs)


def find_python() -> str:
    if sys.version_info[:2] == (3, 11):
        return sys.executable
    found = shutil.which("python3.11")
    if found:
        return found
    sys.exit(
        f"dev.py: Hindsight needs Python 3.11; this is {sys.version.split()[0]} and no "
        "python3.11 is on PATH. Install Python 3.11 and run `python3.11 dev.py ...`."
    )


def setup() -> None:
    fingerprint = hashlib.sha256(
        (ROOT / "pyproject.toml").read_bytes() + TORCH.encode()
    ).hexdigest()
    if STAMP.exists() and STAMP.read_text() == fingerprint and (BIN / "hindsight").exists():
        return
    started = time.monotonic()
    if not (BIN / "python").exists():
        run(find_python(), "-m", "venv", VENV)
    pip = [BIN / "python", "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    run(*pip, TORCH)
    run(*pip, "-e", f"{ROOT}[dev]")
    STAMP.write_text(fingerprint)
    print(f"dev.py: set up {VENV} in {time.monotonic() - started:.0f} s", flush=True)


# Debian packages the test suite drives: a program each, and the package that has it.
TEST_PROGRAMS = {"chromium": "chromium", "redis-server": "redis-server", "initdb": "postgresql"}
# Debian keeps PostgreSQL's server programs off PATH, one folder per major version.
SERVER_FOLDERS = {"initdb": "/usr/lib/postgresql/*/bin"}


def _installed(program: str) -> bool:
    folders = SERVER_FOLDERS.get(program)
    return bool(shutil.which(program)) or bool(folders and glob.glob(f"{folders}/{program}"))


def ensure_test_programs() -> None:
    """In CI install the browser, Redis and PostgreSQL the tests use; elsewhere only say which
    tests skip."""
    missing = [name for name in TEST_PROGRAMS if not _installed(name)]
    if not missing:
        return
    if os.environ.get("CI") and shutil.which("apt-get") and os.geteuid() == 0:
        quiet = {"stdout": subprocess.DEVNULL}
        run("apt-get", "update", "-qq", **quiet)
        packages = [TEST_PROGRAMS[name] for name in missing]
        run("apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages, **quiet)
    else:
        print(
            f"dev.py: {', '.join(missing)} not found; the tests that need them will be skipped "
            f"(apt-get install {' '.join(TEST_PROGRAMS[name] for name in missing)} to run them)",
            flush=True,
        )


def main(argv: list[str]) -> int:
    task, rest = (argv[0], argv[1:]) if argv else ("help", [])
    os.chdir(ROOT)
    if task in {"help", "-h", "--help"}:
        print(__doc__)
        return 0
    if task not in {"setup", "demo", "test", "lint", "bench"}:
        print(
            f"dev.py: unknown task {task!r}; choose one of setup, demo, test, lint, bench",
            file=sys.stderr,
        )
        return 2
    setup()
    if task == "setup":
        return 0
    if task == "demo":
        return subprocess.call([BIN / "hindsight", "demo", *rest])
    if task == "lint":
        return lint()
    if task == "bench":
        return subprocess.call([BIN / "python", "-m", "bench", *rest])
    # test: the whole suite is ruff's checks and then pytest (both always run)
    linted = lint()
    ensure_test_programs()
    return subprocess.call([BIN / "python", "-m", "pytest", *rest]) or linted


def lint() -> int:
    checked = subprocess.call([BIN / "ruff", "check", "."])
    formatted = subprocess.call([BIN / "ruff", "format", "--check", "."])
    return checked or formatted


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
