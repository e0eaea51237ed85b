"""The shipped deployment files agree with the code: the example settings load, units exist, and
the compose file runs real commands with known settings."""

from __future__ import annotations

import importlib
import re
import tomllib
from pathlib import Path

import pytest
import yaml
from flask import Flask

from hindsight.cli import cli
from hindsight.config import Settings, env_name, load_settings
from hindsight.wiring import Config
from kb.postgres import PostgresURL
from plugin.policy.loader import load_policy

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


# -- deploy/compose.yaml: PostgreSQL, Redis, two web and two worker replicas (issue 14)
#
# Docker does not run on the build machine, so the compose file is checked against the code
# statically: every command it runs exists, every variable it sets is a setting, every secret
# comes from outside the file, every health check asks a route the app serves.

COMPOSE = DEPLOY / "compose.yaml"
ROOT = DEPLOY.parent
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}
INTERPOLATION = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")
SECRETS_DIR = "/run/secrets/"


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def _interpolate(text: str, values: dict[str, str]) -> str:
    """What docker compose substitutes from `values` (deploy/.env); a missing required one fails."""

    def one(match: re.Match[str]) -> str:
        name, operator, argument = match.groups()
        if name in values and (values[name] or operator not in (":-", ":?")):
            return values[name]
        if operator in (":-", "-"):
            return argument
        raise AssertionError(f"compose.yaml needs {name}, which compose.env.example lacks")

    return INTERPOLATION.sub(one, text)


def _environment(service: dict, values: dict[str, str], secrets: dict[str, Path]) -> dict:
    """The service's environment as its container sees it, secret files mapped to `secrets`."""
    environ = {
        name: _interpolate(str(value), values) for name, value in service["environment"].items()
    }
    for name, value in environ.items():
        if value.startswith(SECRETS_DIR):
            secret = value.removeprefix(SECRETS_DIR)
            assert secret in service.get("secrets", []), f"{name}: secret {secret} not mounted"
            environ[name] = str(secrets[secret])
    return environ


def _hindsight_services(compose: dict) -> dict[str, dict]:
    return {
        name: service
        for name, service in compose["services"].items()
        if service.get("image", "").startswith("hindsight")
    }


def _healthcheck_path(service: dict) -> str:
    command = " ".join(service["healthcheck"]["test"])
    match = re.search(r"http://127\.0\.0\.1:\d+(/[\w/-]*)", command)
    assert match, f"health check without a local URL: {command}"
    return match.group(1)


@pytest.fixture
def compose_secrets(tmp_path: Path) -> dict[str, Path]:
    """Each declared secret as a file with a stand-in value (the real ones are not in git)."""
    files = {}
    for name, spec in _compose()["secrets"].items():
        assert not (DEPLOY / spec["file"]).resolve().is_relative_to(DEPLOY / "policies")
        files[name] = tmp_path / name
        files[name].write_text("stand-in-secret\n")
    return files


def test_compose_runs_two_web_and_two_worker_replicas_on_postgres_and_redis() -> None:
    services = _compose()["services"]

    assert {"web", "worker", "postgres", "redis"} <= set(services)
    assert services["web"]["deploy"]["replicas"] >= 2
    assert services["worker"]["deploy"]["replicas"] >= 2


def test_compose_commands_are_the_projects_entry_points() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    dependencies = {re.split(r"[<>=\[ ;]", spec, maxsplit=1)[0] for spec in project["dependencies"]}
    commands = set(cli.commands)
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")

    for name, service in _hindsight_services(_compose()).items():
        command = service["command"]
        if command[0] == "gunicorn":
            assert "gunicorn" in dependencies
            config, target = command[command.index("-c") + 1], command[-1]
            assert f"COPY deploy/gunicorn.conf.py {config}" in dockerfile, name
            module, _, call = target.partition(":")
            assert callable(getattr(importlib.import_module(module), call.removesuffix("()")))
        else:
            # `hindsight <command>` directly or inside a shell loop: each must be a CLI command
            used = re.findall(r"\bhindsight (\w[\w-]*)", " ".join(command))
            assert used, f"{name}: runs no hindsight command: {command}"
            assert "hindsight" in project["scripts"]
            assert set(used) <= commands, f"{name}: unknown command in {command}"


def test_compose_settings_load_and_name_a_postgres_and_redis_deployment(
    compose_secrets: dict[str, Path],
) -> None:
    values = _env_file(DEPLOY / "compose.env.example")
    for name, service in _hindsight_services(_compose()).items():
        environ = _environment(service, values, compose_secrets)
        for volume in service.get("volumes", []):
            source, target = _interpolate(volume, values).split(":")[:2]
            assert (DEPLOY / source).exists(), f"{name}: {source} is not in deploy/"
            if target == environ.get("HINDSIGHT_POLICY_FILE"):
                environ["HINDSIGHT_POLICY_FILE"] = str(DEPLOY / source)

        settings = load_settings(
            environ={k: v for k, v in environ.items() if k.startswith("HINDSIGHT_")}
        )

        assert isinstance(settings.db, PostgresURL), name
        assert settings.queue_url.startswith("redis://"), name
        assert settings.webhook_auth_problem() is None, name
        assert settings.jira_configured and settings.jira_secret() == "stand-in-secret", name
        assert settings.policy_file is not None
        load_policy(settings.policy_file)
        config = Config(settings)  # every area accepts the PostgreSQL database
        assert (config.lessons.db, config.kb.db, config.web.audit_db) == (settings.db,) * 3
    web = _environment(_compose()["services"]["web"], values, compose_secrets)
    assert load_settings(
        environ={k: v for k, v in web.items() if k.startswith("HINDSIGHT_")}
    ).web_token


def test_compose_holds_no_secret_literal() -> None:
    secret_settings = {
        env_name(name)
        for name, field in Settings.model_fields.items()
        if "SecretStr" in str(field.annotation)
    }
    compose = _compose()
    for name, service in compose["services"].items():
        for variable, value in (service.get("environment") or {}).items():
            value = str(value)
            if variable.endswith("_FILE") and variable != "HINDSIGHT_POLICY_FILE":
                assert value.startswith(SECRETS_DIR), f"{name}: {variable} is not a secret file"
            elif variable in secret_settings or "PASSWORD" in variable:
                assert re.fullmatch(r"\$\{\w+:\?[^}]*\}", value), f"{name}: {variable} is a literal"
            if variable == "HINDSIGHT_DB":
                assert PostgresURL(value).password is None, f"{name}: a password in HINDSIGHT_DB"


def test_compose_gives_the_postgresql_password_to_server_and_service_as_one_secret_file(
    compose_secrets: dict[str, Path],
) -> None:
    """Never in an environment variable (`docker inspect` shows those): the server reads the
    file at its first start, Hindsight at each start, and both read the same one."""
    services = _compose()["services"]
    server = services["postgres"]["environment"]
    assert "POSTGRES_PASSWORD" not in server
    secret = server["POSTGRES_PASSWORD_FILE"].removeprefix(SECRETS_DIR)
    assert secret in services["postgres"]["secrets"]
    values = _env_file(DEPLOY / "compose.env.example")
    assert not any("PASSWORD" in name for name in values), "a password in deploy/.env"

    for name, service in _hindsight_services(_compose()).items():
        environ = service["environment"]
        assert environ["HINDSIGHT_DB_PASSWORD_FILE"] == SECRETS_DIR + secret, name
        assert secret in service["secrets"], name
        resolved = _environment(service, values, compose_secrets)
        settings = load_settings(
            environ={k: v for k, v in resolved.items() if k.startswith("HINDSIGHT_")}
        )
        assert settings.db.password == "stand-in-secret", name  # joined to the URL at start


def test_compose_health_checks_ask_routes_the_app_serves(app: Flask) -> None:
    services = _compose()["services"]
    routes = {rule.rule for rule in app.url_map.iter_rules()}

    for name in ("web", "proxy"):
        assert _healthcheck_path(services[name]) in routes, name
    for name, service in services.items():
        for needed, condition in (service.get("depends_on") or {}).items():
            assert condition == {"condition": "service_healthy"}, f"{name} -> {needed}"
            assert "healthcheck" in services[needed], f"{name} waits for {needed}'s health check"


def test_compose_web_port_proxy_and_image_agree() -> None:
    compose = _compose()
    web = compose["services"]["web"]
    port = web["environment"]["GUNICORN_BIND"].rsplit(":", 1)[1]
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")

    assert f"EXPOSE {port}" in dockerfile
    assert f"127.0.0.1:{port}/" in " ".join(web["healthcheck"]["test"])
    assert f"server web:{port} resolve;" in (DEPLOY / "nginx.conf").read_text(encoding="utf-8")
    # the image installs the drivers this deployment needs: psycopg and redis
    assert re.search(r"\[(?=[^\]]*postgres)(?=[^\]]*redis)[^\]]*\]", dockerfile)


def _dockerfile_stages() -> list[tuple[str, str, str]]:
    """(name, base, instructions) of each stage of deploy/Dockerfile, in order."""
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    stages = []
    for chunk in re.split(r"^FROM ", text, flags=re.M)[1:]:
        header, _, body = chunk.partition("\n")
        base, _, name = header.partition(" AS ")
        stages.append((name.strip(), base.strip(), body))
    return stages


def _stage_and_bases(name: str) -> list[str]:
    """The instructions of stage `name` and of every stage it is built FROM."""
    stages = {stage: (base, body) for stage, base, body in _dockerfile_stages()}
    bodies = []
    while name in stages:
        name, body = stages[name]
        bodies.append(body)
    return bodies


def test_every_hindsight_container_has_a_health_check_of_its_own_kind(app: Flask) -> None:
    """The image's check asks the web server's /healthz: a worker runs `hindsight worker
    --check` (its heartbeat), the sweep loop none; each command and option exists."""
    routes = {rule.rule for rule in app.url_map.iter_rules()}
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    image_check = re.search(r"http://127\.0\.0\.1:\d+(/\w+)", dockerfile.split("HEALTHCHECK")[1])
    assert image_check and image_check.group(1) in routes

    for name, service in _hindsight_services(_compose()).items():
        check = service.get("healthcheck")
        assert check, f"{name} would inherit the image's HTTP check"
        if check.get("disable"):
            assert name == "sweep", f"{name}: only the sweep loop runs without a health check"
            continue
        test = check["test"]
        if "hindsight" in test:
            words = test[test.index("hindsight") + 1 :]
            command = cli.commands[words[0]]
            options = {opt for param in command.params for opt in getattr(param, "opts", [])}
            assert set(words[1:]) <= options, f"{name}: {test}"
            assert check["timeout"] and check["start_period"], name
        else:
            assert _healthcheck_path(service) in routes, name
    assert _compose()["services"]["worker"]["healthcheck"]["test"][1:] == [
        "hindsight",
        "worker",
        "--check",
    ]


def test_the_compose_image_has_no_volume_and_the_default_image_keeps_sqlite_on_one() -> None:
    """A VOLUME cannot be undone by a later stage or by compose: the stage compose builds
    (PostgreSQL, nothing kept in the container) declares none, the default last stage (one
    machine, SQLite) declares the folder of its database."""
    build = _compose()["x-hindsight"]["build"]
    target = build["target"]
    stages = _dockerfile_stages()

    assert target in {name for name, _, _ in stages}
    assert not any("VOLUME" in body for body in _stage_and_bases(target)), target
    default_name, _, default_body = stages[-1]
    assert default_name != target
    db = re.search(r"HINDSIGHT_DB=(\S+)", default_body)
    volume = re.search(r'^VOLUME \["([^"]+)"\]', default_body, flags=re.M)
    assert db and volume, "the default image keeps its SQLite database on a volume"
    assert Path(db.group(1)).parent == Path(volume.group(1))
    assert "CMD" in "".join(_stage_and_bases(target))  # both images run the web by default
