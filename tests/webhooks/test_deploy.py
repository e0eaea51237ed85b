"""The shipped deployment files agree with the code: the example settings load, units exist."""

from __future__ import annotations

from pathlib import Path

from hindsight.config import load_settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name] = value
    return values


def test_example_environment_file_is_valid() -> None:
    environ = _env_file(DEPLOY / "hindsight.env.example")

    settings = load_settings(environ=environ)

    assert settings.webhook_auth_problem() is None
    assert str(settings.db) == "/var/lib/hindsight/hindsight.db"


def test_gunicorn_config_and_units_point_at_the_wsgi_entry() -> None:
    entry = "hindsight.wsgi:create_app()"
    assert entry in (DEPLOY / "systemd" / "hindsight-web.service").read_text()
    assert entry in (DEPLOY / "Dockerfile").read_text()
    assert "hindsight worker" in (DEPLOY / "systemd" / "hindsight-worker.service").read_text()
    config: dict[str, object] = {}
    exec(compile((DEPLOY / "gunicorn.conf.py").read_text(), "gunicorn.conf.py", "exec"), config)
    assert config["worker_class"] in {"gthread", "sync"}
