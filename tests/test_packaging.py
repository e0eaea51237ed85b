"""The package ships as built: the wheel holds every module, template, static and demo file, and
installed alone (not editable, run from outside the repository) it runs the CLI, the demo, an
ingest, a search and a page.

The wheel is built once per module from the files git knows (what a clone or the Docker build
sees), with `pip wheel --no-deps`. It is installed into a fresh venv with `pip install --no-deps`;
that venv sees this environment's site-packages through a `.pth` line so torch and the other
dependencies need not be installed again, but not the source tree: a `.pth` line adds the folder
to sys.path without running the editable install's own `.pth` hook, and every command runs with
its working directory outside the repository and asserts that the code it imported lies in the
new venv.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("hindsight", "kb", "plugin", "webhooks")
# Everything the wheel is built from; deploy/Dockerfile copies exactly these into its build stage.
BUILD_INPUTS = ("pyproject.toml", "README.md", *PACKAGES)
PIP = (sys.executable, "-m", "pip", "-q", "--disable-pip-version-check")


def _git_files() -> list[str]:
    """Tracked files plus new ones not ignored: what the next commit will hold."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the wheel is built from the files git knows")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [name for name in listed.split("\0") if name and (ROOT / name).is_file()]


def _shipped_sources() -> list[str]:
    """Every file git knows under the four packages: all of them must be in the wheel."""
    return sorted(f for f in _git_files() if f.split("/", 1)[0] in PACKAGES)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built once from a copy of the build inputs (the checkout stays clean)."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    for name in _git_files():
        if name.split("/", 1)[0] in BUILD_INPUTS:
            target = source / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target)
    subprocess.run(
        [*PIP, "wheel", "--no-deps", "--no-build-isolation", "-w", str(work / "dist"), str(source)],
        check=True,
        capture_output=True,
    )
    (built,) = (work / "dist").glob("hindsight-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed (no editable install, no source tree)."""
    home = tmp_path_factory.mktemp("venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(home)], check=True)
    (packages,) = (home / "lib").glob("python3*/site-packages")
    # The dependencies, already installed here; the project itself is not among them (it is an
    # editable install whose finder only a site directory's .pth processing would register).
    (packages / "dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run(
        [*PIP, "--python", str(home / "bin" / "python"), "install", "--no-deps", str(wheel)],
        check=True,
        capture_output=True,
    )
    return home


def _run(
    venv: Path, *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("HINDSIGHT_", "PYTHON"))}
    environ |= {"HF_HUB_OFFLINE": "1", "PYTHONNOUSERSITE": "1"} | (env or {})
    result = subprocess.run(
        [str(venv / "bin" / args[0]), *args[1:]],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
    return result


def test_the_package_ships_every_module_template_static_and_demo_file(wheel: Path) -> None:
    shipped = set(zipfile.ZipFile(wheel).namelist())
    sources = _shipped_sources()

    missing = [name for name in sources if name not in shipped]

    assert not missing, f"the wheel lacks {missing}: see [tool.setuptools.*] in pyproject.toml"
    assert "webhooks/templates/search.html" in sources and "webhooks/static/style.css" in sources
    assert any(name.startswith("hindsight/examples/deliveries/") for name in sources)
    assert not [name for name in shipped if name.startswith(("tests/", "bench/", "testkit/"))]


def test_every_code_folder_is_a_regular_package() -> None:
    """A folder of modules without __init__.py would be left out of the wheel by discovery."""
    folders = {str(Path(name).parent) for name in _shipped_sources() if name.endswith(".py")}

    assert [f for f in sorted(folders) if not (ROOT / f / "__init__.py").is_file()] == []


@pytest.mark.real_model
def test_the_installed_wheel_alone_runs_the_cli_demo_ingest_search_and_pages(
    venv: Path, tmp_path: Path
) -> None:
    where = _run(
        venv,
        "python",
        "-c",
        "import json, hindsight, hindsight.wsgi, kb.readers, plugin.policy, plugin.jira,"
        " plugin.lessons.suggest, webhooks.web;"
        " print(json.dumps([m.__file__ for m in (hindsight, kb.readers, plugin.lessons.suggest,"
        " webhooks.web)]))",
        cwd=tmp_path,
    )
    for module_file in json.loads(where.stdout):
        assert Path(module_file).is_relative_to(venv), module_file

    assert "Commands:" in _run(venv, "hindsight", "--help", cwd=tmp_path).stdout

    # The demo reads its packaged examples, ingests them and replays its deliveries.
    demo = _run(venv, "hindsight", "demo", "--once", "--dir", str(tmp_path / "demo"), cwd=tmp_path)
    assert "change-control: FAIL" in demo.stdout and "suggestion comment" in demo.stdout

    retro = tmp_path / "retro.md"
    retro.write_text("# Retro\n\n## Lessons learned\n\n- Rehearse the zebra failover twice.\n")
    db = str(tmp_path / "kb.db")
    ingested = _run(venv, "hindsight", "ingest", str(retro), "--db", db, cwd=tmp_path)
    assert "1 added" in ingested.stdout and "1 lessons written" in ingested.stdout
    found = _run(venv, "hindsight", "search", "zebra failover", "--json", "--db", db, cwd=tmp_path)
    assert "Rehearse the zebra failover twice." in found.stdout

    page = _run(
        venv,
        "python",
        "-c",
        "import os; from hindsight.wsgi import create_app;"
        " client = create_app(test_config={'TESTING': True}).test_client();"
        " page = client.get('/lessons?q=zebra'); css = client.get('/static/style.css');"
        " print(page.status_code, css.status_code);"
        " print(page.get_data(as_text=True))",
        cwd=tmp_path,
        env={"HINDSIGHT_DB": db, "HINDSIGHT_ALLOW_UNSIGNED": "true"},
    )
    status, _, html = page.stdout.partition("\n")
    assert status == "200 200"
    assert "Rehearse the <mark>zebra</mark> failover twice." in html  # a template, rendered


def test_the_dockerfile_installs_the_built_wheel_from_the_same_inputs() -> None:
    """Docker cannot run here, so the Dockerfile's build stage is checked as text."""
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    build_stage = re.split(r"^FROM ", dockerfile, flags=re.M)[1]  # the first stage
    copied = re.findall(r"^COPY (.+) \S+$", build_stage, flags=re.M)

    assert sorted(" ".join(copied).split()) == sorted(BUILD_INPUTS)
    assert "pip wheel --no-cache-dir --no-deps -w /tmp/dist ." in build_stage
    assert "set -- /tmp/dist/hindsight-*.whl" in build_stage
    assert not re.search(r"pip install[^&]*[\"' ]\.(\[|[\"' ]|$)", build_stage, flags=re.M)
