"""`POST /api/policy/validate`: validate a policy file from CI before it is deployed.

The body is the YAML text. 200 `{"valid": true, "rules": [...]}` when it loads; 422
`{"valid": false, "errors": [{"line", "path", "message"}]}` naming each problem by line when not.
Validation only reads the body, so the endpoint needs no credentials.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from plugin.policy.loader import PolicyError, parse_policy
from webhooks.request_body import read_body
from webhooks.state import app_state

blueprint = Blueprint("policy_api", __name__)


@blueprint.post("/api/policy/validate")
def validate_policy():
    raw = read_body(app_state().settings.max_body_bytes)  # 413 past it, chunked or not
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return jsonify(valid=False, errors=[_error("the body must be UTF-8 text (YAML)")]), 400
    source = request.args.get("name", "policy.yaml")
    try:
        policy = parse_policy(text, source=source)
    except PolicyError as exc:
        errors = [{**p.to_dict(), "text": str(p)} for p in exc.problems]
        return jsonify(valid=False, errors=errors), 422
    return jsonify(valid=True, rules=[rule.name for rule in policy.rules])


def _error(message: str) -> dict:
    return {"line": None, "path": "", "message": message, "text": message}
