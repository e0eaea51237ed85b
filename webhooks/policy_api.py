"""`POST /api/policy/validate`: validate a policy file from CI before it is deployed.

The body is the YAML text. 200 `{"valid": true, "rules": [...]}` when it loads; 422
`{"valid": false, "errors": [{"line", "path", "message", "text"}]}` naming each problem by line
when not; 400 when the body is not UTF-8; 413 over `POLICY_MAX_BYTES` (256 KiB, far above any
real policy), with or without a Content-Length. The policy YAML limits (nesting, aliases,
values) bound the rest, so one request costs a fraction of a second at worst
(bench/bounded_paths.py). Behind the web token (or proxy user header) when one is configured,
like the pages and the JSON API.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from plugin.policy.loader import POLICY_MAX_BYTES, PolicyError, parse_policy
from webhooks.request_body import BodyTooLarge, read_body
from webhooks.web.access import check_access
from webhooks.web.context import lessons_web

blueprint = Blueprint("policy_api", __name__)


@blueprint.before_request
def _guard() -> Response | None:
    return check_access(lessons_web().access, api=True)


@blueprint.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> tuple[Response, int]:
    return _invalid(exc.code or 500, exc.description or exc.name)


@blueprint.post("/api/policy/validate")
def validate_policy() -> Response | tuple[Response, int]:
    try:
        raw = read_body(POLICY_MAX_BYTES)  # chunked or not
    except BodyTooLarge as exc:
        return _invalid(413, exc.description)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return _invalid(400, "the body must be UTF-8 text (YAML)")
    source = request.args.get("name", "policy.yaml")
    try:
        policy = parse_policy(text, source=source)
    except PolicyError as exc:
        errors = [{**p.to_dict(), "text": str(p)} for p in exc.problems]
        return jsonify(valid=False, errors=errors), 422
    return jsonify(valid=True, rules=[rule.name for rule in policy.rules])


def _invalid(status: int, message: str) -> tuple[Response, int]:
    error = {"line": None, "path": "", "message": message, "text": message}
    return jsonify(valid=False, errors=[error]), status
