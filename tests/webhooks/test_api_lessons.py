"""The lessons JSON API, and that docs/openapi.yaml describes exactly the routes the app serves."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.webhooks.helpers import make_web_app
from webhooks.web.context import AccessRules

OPENAPI = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"


@pytest.fixture
def web(tmp_path, store_location):
    """On each engine: the lessons and the journal where HINDSIGHT_DB says."""
    return make_web_app(tmp_path, db=store_location)


def test_search_returns_hits_with_highlights_and_reasons(web) -> None:
    app, _ = web
    body = app.test_client().get("/api/lessons/search?q=rollback&limit=2").get_json()
    assert body["count"] == 2
    first = body["results"][0]
    assert {"id", "title", "text", "highlights", "similarity", "why", "feedback"} <= set(first)
    assert first["snippet"][slice(*first["highlights"][0])].lower() == "rollback"


@pytest.mark.parametrize(
    "query, message",
    [("", "?q="), ("q=x&limit=0", "between"), ("q=x&limit=ten", "whole number"),
     ("q=x&mode=psychic", "mode")],
)  # fmt: skip
def test_bad_parameters_say_what_to_fix(web, query, message) -> None:
    app, _ = web
    response = app.test_client().get(f"/api/lessons/search?{query}")
    assert response.status_code == 400
    assert message in response.get_json()["error"]


def test_lesson_by_id_and_404(web) -> None:
    app, services = web
    hit = services.store.search("rollback", limit=1)[0]
    body = app.test_client().get(f"/api/lessons/{hit.id}").get_json()
    assert body["id"] == hit.id and body["feedback"] == {"helpful": 0, "not_relevant": 0}
    missing = app.test_client().get("/api/lessons/L-missing")
    assert missing.status_code == 404 and "no lesson" in missing.get_json()["error"]


def test_feedback_with_a_signed_token_and_its_effect(web) -> None:
    app, services = web
    hit = services.store.search("rollback", limit=1)[0]
    token = services.signer.sign("PAY-3", hit.id, "helpful")
    client = app.test_client()
    first = client.post("/api/lessons/feedback", json={"token": token}).get_json()
    assert first == {"issue": "PAY-3", "lesson_id": hit.id, "answer": "helpful", "changed": True}
    assert (
        client.post("/api/lessons/feedback", json={"token": token}).get_json()["changed"] is False
    )
    assert client.get(f"/api/lessons/{hit.id}").get_json()["feedback"]["helpful"] == 1
    assert client.post("/api/lessons/feedback", json={"token": "x.y"}).status_code == 400
    assert client.post("/api/lessons/feedback", data="nope").status_code == 400


def test_suggestions_and_stats(web) -> None:
    app, services = web
    services.journal.record_suggestions(
        "PAY-1", "PAY", "c", "b", services.clock.now(), [("L-1", 0.8, 0.8)]
    )
    services.journal.record_feedback("PAY-1", "L-1", "helpful")
    client = app.test_client()
    (row,) = client.get("/api/lessons/suggestions/PAY-1").get_json()["suggestions"]
    assert row["lesson_id"] == "L-1" and row["answer"] == "helpful"
    stats = client.get("/api/lessons/stats").get_json()
    assert stats["suggestions"]["helpful_rate"] == 1.0
    assert stats["store"]["lessons"] >= 4


def test_the_api_needs_a_token_when_configured_and_is_read_only(tmp_path) -> None:
    app, _ = make_web_app(tmp_path, access=AccessRules(tokens=("t0ken",)))
    client = app.test_client()
    assert client.get("/api/lessons/search?q=x").status_code == 401
    ok = client.get("/api/lessons/search?q=rollback", headers={"Authorization": "Bearer t0ken"})
    assert ok.status_code == 200
    assert (
        client.delete("/api/lessons/L-1", headers={"Authorization": "Bearer t0ken"}).status_code
        == 405
    )


def _flask_paths(app) -> set[tuple[str, str]]:
    found = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        path = rule.rule.replace("<path:", "{").replace("<", "{").replace(">", "}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            found.add((path, method.lower()))
    return found


def test_openapi_describes_exactly_the_routes(app) -> None:
    """Every JSON API route of the whole app (lessons and policy), and no other."""
    spec = yaml.safe_load(OPENAPI.read_text())
    documented = {
        (path, method)
        for path, item in spec["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }
    assert documented == _flask_paths(app)


def test_responses_match_the_openapi_schemas(web) -> None:
    from openapi_core import OpenAPI
    from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request

    app, services = web
    openapi = OpenAPI.from_file_path(str(OPENAPI))
    hit = services.store.search("rollback", limit=1)[0]
    token = services.signer.sign("PAY-3", hit.id, "helpful")
    calls = [
        ("GET", "/api/lessons/search?q=rollback", None),
        ("GET", "/api/lessons/search", None),
        ("GET", f"/api/lessons/{hit.id}", None),
        ("GET", "/api/lessons/L-missing", None),
        ("GET", "/api/lessons/suggestions/PAY-1", None),
        ("GET", "/api/lessons/stats", None),
        ("POST", "/api/lessons/feedback", {"token": token}),
    ]
    client = app.test_client()
    for method, url, body in calls:
        response = client.open(url, method=method, json=body)
        builder = EnvironBuilder(path=url, method=method, json=body, base_url="http://localhost")
        request = WerkzeugOpenAPIRequest(Request(builder.get_environ()))
        openapi.validate_response(request, WerkzeugOpenAPIResponse(response))


def test_search_lists_no_weak_matches(web) -> None:
    app, _ = web
    body = app.test_client().get("/api/lessons/search?q=choir singing timetable").get_json()
    assert body["count"] == 0 and body["results"] == []
