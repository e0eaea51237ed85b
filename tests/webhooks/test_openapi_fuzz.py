"""schemathesis over docs/openapi.yaml against the real app: every JSON API operation.

Each operation gets schema-valid requests (positive) and schema-violating ones (negative: wrong
types, missing parameters, bodies of another shape) and every answer must be documented: no 5xx,
a status code the description lists, its content type and its response schema; a request that
breaks the schema must be refused with a 4xx. The app is the whole Flask app (`hindsight.wsgi`)
over a real store (a deterministic embedder instead of the model, so no weights load) holding
lessons, suggestions and feedback, so reads find something.

Examples per run (profile "hindsight" in tests/conftest.py, the same every run): up to 200
generated per operation (an operation with fewer distinct inputs stops sooner: stats has
none), 6 operations, ~1,000 in all, plus schemathesis' own coverage cases (boundary values,
undeclared methods); `pytest --hypothesis-show-statistics` prints the counts.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import allow_header_conformance, positive_data_acceptance

from hindsight.config import load_settings
from hindsight.wiring import Config, build_runtime
from hindsight.wsgi import create_app
from plugin.lessons.services import build_services
from testkit.kb import HashingEmbedder
from tests.conftest import examples
from tests.webhooks.helpers import RETRO_WITH_SCRIPT
from webhooks.queue import build_delivery_queue, build_huey

OPENAPI = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
SEMANTIC_BODIES = {"POST /api/lessons/feedback", "POST /api/policy/validate"}
schema = schemathesis.openapi.from_path(OPENAPI)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    tmp = tmp_path_factory.mktemp("openapi")
    settings_ = load_settings(
        environ={}, overrides={"db": tmp / "hindsight.db", "webhook_secret": ["fuzz-secret"]}
    )
    config = Config(settings_)
    services = build_services(config.lessons, embedder=HashingEmbedder())
    assert services.store is not None
    services.store.ingest_source("retros/pay-4.2.md", RETRO_WITH_SCRIPT)
    hit = services.store.search("rollback", limit=1)[0]
    services.journal.record_suggestions(
        "PAY-1", "PAY", "c1", "b", services.clock.now(), [(hit.id, 0.7, 0.7)]
    )
    services.journal.record_feedback("PAY-1", hit.id, "helpful")
    runtime = build_runtime(config, installers=(), lessons=services)
    queue = build_delivery_queue(runtime, huey=build_huey("memory://", immediate=True))
    return create_app(runtime=runtime, queue=queue, test_config={"TESTING": True})


@schema.parametrize()
@settings(
    max_examples=examples(200),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_every_api_operation_answers_as_documented(case: schemathesis.Case, api: Flask) -> None:
    response = case.call(app=api)
    # Any string fits these bodies' schemas, but only a signed token or a valid policy is
    # accepted: a refusal (400, 422) of schema-valid data is their documented answer.
    semantic = case.operation.label in SEMANTIC_BODIES
    excluded = [positive_data_acceptance] if semantic else []
    # Flask answers OPTIONS with the methods of every rule matching the path, and
    # /api/lessons/{lesson_id} matches /api/lessons/feedback too (a lesson id "feedback": 404).
    case.validate_response(response, excluded_checks=[allow_header_conformance, *excluded])
