"""`POST /api/policy/validate` through the real app factory: line-numbered JSON errors for CI."""

from __future__ import annotations

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
