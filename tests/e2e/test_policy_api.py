"""`POST /api/policy/validate` through the real app factory: line-numbered JSON errors for CI."""

from __future__ import annotations

import io

import pytest

from hindsight.config import load_settings
from hindsight.wiring import Config, build_runtime
from hindsight.wsgi import create_app
from plugin.policy.loader import MAX_PROBLEMS, POLICY_MAX_BYTES
from tests.plugin.policy.conftest import POLICY_YAML


def test_a_valid_policy_answers_200_with_its_rules(client):
    response = client.post("/api/policy/validate", data=POLICY_YAML)
    assert response.status_code == 200
    assert response.get_json() == {"valid": True, "rules": ["change-control", "risk-review"]}


def test_a_broken_policy_answers_422_with_each_problem_and_its_line(client):
    broken = POLICY_YAML.replace("  mode: enforce", "  mode: enforced").replace(
        "kind: risk-review", "kind: risk"
    )
    response = client.post("/api/policy/validate?name=chg.yaml", data=broken)
    assert response.status_code == 422
    body = response.get_json()
    assert body["valid"] is False
    assert body["errors"][0] == {
        "line": 3,
        "path": "defaults.mode",
        "message": "'enforced' is not allowed; must be one of: enforce, report-only",
        "text": "chg.yaml:3: defaults.mode: 'enforced' is not allowed; must be one of: "
        "enforce, report-only",
    }
    assert body["errors"][1]["message"].startswith("unknown kind 'risk'")


def test_yaml_syntax_errors_and_non_utf8_bodies_are_explained(client):
    response = client.post("/api/policy/validate", data="version: 1\nrules: [\n")
    assert response.status_code == 422
    assert "not valid YAML" in response.get_json()["errors"][0]["message"]
    response = client.post("/api/policy/validate", data=b"\xff\xfe")
    assert response.status_code == 400


# --- issue 10: hostile policies get a 4xx with a reason, at a bounded cost ------------------


def _only_error(response) -> str:
    body = response.get_json()
    assert body["valid"] is False
    [error] = body["errors"]
    return error["text"]


def test_python_tag_inside_mapping_is_422_not_500(client):
    response = client.post(
        "/api/policy/validate", data="version: 1\nrules: !!python/name:os.system\n"
    )
    assert response.status_code == 422
    assert _only_error(response) == (
        "policy.yaml:2: tag !!python/name:os.system is not allowed; the policy file may hold only "
        "plain YAML (strings, numbers, booleans, dates, lists and mappings)"
    )


@pytest.mark.parametrize("style", ["flow", "block"])
def test_deep_nesting_is_422_not_500(client, style):
    if style == "flow":
        text = "version: 1\nrules: " + "[" * 1000 + "]" * 1000 + "\n"
    else:
        text = "version: 1\nrules:\n" + "".join(" " * i + "- \n" for i in range(1, 301))
    response = client.post("/api/policy/validate", data=text)
    assert response.status_code == 422
    assert "over 32 levels deep (the limit)" in _only_error(response)


def test_self_referencing_alias_is_422_not_500(client):
    response = client.post("/api/policy/validate", data="version: 1\na: &a [*a]\n")
    assert response.status_code == 422
    assert _only_error(response) == "policy.yaml:2: alias *a refers to a value that contains it"


def test_one_mib_policy_of_keys_is_413_before_it_is_parsed(client):
    body = "".join(f"key{i}: value\n" for i in range(80_000)).encode()
    assert len(body) > 1024 * 1024
    response = client.post("/api/policy/validate", data=body)
    assert response.status_code == 413
    assert f"the limit is {POLICY_MAX_BYTES} bytes" in _only_error(response)


def test_chunked_policy_over_the_limit_is_413_not_cut_and_judged(client):
    body = b"version: 1\n" + b"# padding\n" * (POLICY_MAX_BYTES // 10)
    response = client.post(
        "/api/policy/validate",
        input_stream=io.BytesIO(body),
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},  # what gunicorn sets for chunked
    )
    assert response.status_code == 413
    assert "over the limit" in _only_error(response)


def test_many_problems_are_cut_to_the_first_hundred(client):
    text = "version: 1\nrules:\n" + "- {name: BAD}\n" * 5_000
    response = client.post("/api/policy/validate", data=text)
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert len(errors) == MAX_PROBLEMS + 1
    assert errors[-1]["message"] == f"... and {5_000 - MAX_PROBLEMS} more problems"


def test_validate_needs_the_web_token_when_one_is_set(tmp_path):
    settings = load_settings(
        environ={},
        overrides={
            "db": tmp_path / "hindsight.db",
            "webhook_secret": ["s"],
            "web_token": ["t0ken"],
        },
    )
    app = create_app(
        runtime=build_runtime(Config(settings), installers=[]), test_config={"TESTING": True}
    )
    client = app.test_client()
    refused = client.post("/api/policy/validate", data=POLICY_YAML)
    assert refused.status_code == 401
    assert "Authorization: Bearer" in _only_error(refused)
    allowed = client.post(
        "/api/policy/validate", data=POLICY_YAML, headers={"Authorization": "Bearer t0ken"}
    )
    assert allowed.status_code == 200
