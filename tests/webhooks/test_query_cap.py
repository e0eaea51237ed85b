"""Issue 10, finding 4: the longest query is capped on the page and the JSON API, with a 400."""

from __future__ import annotations

from pathlib import Path

import yaml

from kb.search import MAX_QUERY_CHARS
from tests.webhooks.helpers import make_web_app

OPENAPI = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"


def test_query_over_cap_is_400(tmp_path) -> None:
    app, _ = make_web_app(tmp_path)
    client = app.test_client()
    response = client.get("/api/lessons/search", query_string={"q": "x" * 54_000})
    assert response.status_code == 400
    assert response.get_json()["error"] == (
        f"the query is 54,000 characters; the limit is {MAX_QUERY_CHARS:,}: search with its key "
        "words or its first lines"
    )
    at_cap = ("rollback " * 300)[:MAX_QUERY_CHARS]
    assert client.get("/api/lessons/search", query_string={"q": at_cap}).status_code == 200


def test_query_over_cap_is_400_on_the_search_page(tmp_path) -> None:
    app, _ = make_web_app(tmp_path)
    response = app.test_client().get("/lessons", query_string={"q": "x" * (MAX_QUERY_CHARS + 1)})
    assert response.status_code == 400
    assert f"the limit is {MAX_QUERY_CHARS:,}" in response.get_data(as_text=True)


def test_openapi_states_the_query_cap() -> None:
    spec = yaml.safe_load(OPENAPI.read_text(encoding="utf-8"))
    parameters = spec["paths"]["/api/lessons/search"]["get"]["parameters"]
    [q] = [p for p in parameters if p["name"] == "q"]
    assert q["schema"]["maxLength"] == MAX_QUERY_CHARS
