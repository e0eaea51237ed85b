"""`hindsight search` asks the running service when one is configured (no model load here),
says so when the service refuses, and searches locally when it does not answer."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from werkzeug.serving import make_server

from hindsight.cli import cli
from hindsight.config import load_settings
from hindsight.net import free_port
from hindsight.wiring import Config, build_runtime
from hindsight.wsgi import create_app
from plugin.lessons.services import build_services
from testkit.kb import HashingEmbedder
from tests.webhooks.helpers import RETRO_WITH_SCRIPT
from webhooks.queue import build_delivery_queue, build_huey

TOKEN = "reader-token-for-the-cli-test"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Hindsight app over a real store, served on loopback, its pages behind a token."""
    tmp = tmp_path_factory.mktemp("service")
    settings = load_settings(
        environ={},
        overrides={"db": tmp / "hindsight.db", "webhook_secret": ["s"], "web_token": [TOKEN]},
    )
    config = Config(settings)
    services = build_services(config.lessons, embedder=HashingEmbedder())
    assert services.store is not None
    services.store.ingest_source("retros/pay-4.2.md", RETRO_WITH_SCRIPT)
    runtime = build_runtime(config, installers=(), lessons=services)
    queue = build_delivery_queue(runtime, huey=build_huey("memory://", immediate=True))
    app = create_app(runtime=runtime, queue=queue, test_config={"TESTING": True})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def _search(env: dict[str, str], *args: str):
    return CliRunner().invoke(cli, ["search", "rollback", "--mode", "keyword", *args], env=env)


def test_search_asks_the_configured_service_and_opens_no_local_database(
    service: str, tmp_path: Path
) -> None:
    local = tmp_path / "absent" / "hindsight.db"
    env = {
        "HINDSIGHT_PUBLIC_URL": service,
        "HINDSIGHT_WEB_TOKEN": TOKEN,
        "HINDSIGHT_DB": str(local),
    }

    result = _search(env)

    assert result.exit_code == 0, result.output
    assert "«rollback»" in result.output and "pay-4.2.md § What went wrong" in result.output
    assert not local.parent.exists()  # answered by the service: nothing opened here
    as_json = _search(env, "--json")
    assert as_json.exit_code == 0 and '"retrospective_id"' in as_json.output


def test_a_refusal_by_the_service_is_said_with_its_reason(service: str) -> None:
    env = {"HINDSIGHT_PUBLIC_URL": service, "HINDSIGHT_WEB_TOKEN": "wrong"}

    result = _search(env)

    assert result.exit_code == 1
    assert "refused the search (HTTP 401" in result.output and "--local" in result.output
    assert "wrong" not in result.output.replace("--local", "")


def test_no_answer_from_the_service_falls_back_to_the_local_database(tmp_path: Path) -> None:
    closed = free_port()  # nothing listens there
    db = tmp_path / "k.db"
    env = {"HINDSIGHT_PUBLIC_URL": f"http://127.0.0.1:{closed}", "HINDSIGHT_DB": str(db)}

    result = _search(env)

    assert result.exit_code == 1
    assert "did not answer" in result.output and "searching locally" in result.output
    assert str(db) in result.output and not db.exists()  # the local path: no database there
