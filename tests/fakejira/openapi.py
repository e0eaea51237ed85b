"""Validate the fake's incoming requests against Atlassian's OpenAPI description of Jira.

openapi-core checks path, method, parameters and body; on top of it, query parameters the
operation does not declare are refused too (Jira ignores them silently, which hides bugs).
The 1.7 MB description is parsed and indexed once per process (`load_validator`). Operations
the 2022 snapshot lacks (create meta per project and issue type, which replaced the removed
`createmeta?expand=...`) are taken from Atlassian's December 2025 description beside it.
"""

from __future__ import annotations

import functools
import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from werkzeug.datastructures import Headers, ImmutableMultiDict
from werkzeug.wrappers import Request

from tests.fakejira import deviations

SPEC_PATH = (
    Path(__file__).resolve().parents[2].parent
    / "shared"
    / "data"
    / "jira-openapi"
    / "platform-swagger.v3.json"
)
NEWER_SPEC_PATH = SPEC_PATH.with_name("platform-swagger.v3.2025-12.json")
# paths Hindsight calls that only the 2025-12 description has (taken from it, with the
# components they refer to; the rest of that file has schemas openapi-core rejects)
NEWER_PATHS = (
    "/rest/api/3/issue/createmeta/{projectIdOrKey}/issuetypes",
    "/rest/api/3/issue/createmeta/{projectIdOrKey}/issuetypes/{issueTypeId}",
)
SPEC_HOST = "https://your-domain.atlassian.net"


@dataclass
class _OpenAPIRequest:
    """openapi-core's Request protocol over a rewritten (v3) request."""

    path: str
    method: str
    parameters: Any
    body: bytes | None
    content_type: str
    host_url: str = SPEC_HOST


@dataclass(frozen=True)
class _Operation:
    template: str
    pattern: re.Pattern[str]
    query_names: frozenset[str]


class RequestValidator:
    """Checks a werkzeug `Request` (REST v2) against the v3 description; returns problems."""

    def __init__(self, spec: dict[str, Any]) -> None:
        from openapi_core import Config, OpenAPI
        from openapi_core.validation.request.validators import V30RequestParametersValidator

        class ParametersAndBody(V30RequestParametersValidator):
            """Parameters and body, not security (deviation 7)."""

            def iter_errors(self, request: Any) -> Any:
                yield from super().iter_errors(request)
                try:
                    _, operation, *_ = self._find_path(request)
                except Exception:  # reported by the parameters pass already
                    return
                yield from self._iter_body_errors(request, operation)

        self._openapi = OpenAPI.from_dict(
            spec, config=Config(request_validator_cls=ParametersAndBody)
        )
        self._operations = _index(spec)

    def check(self, request: Request) -> list[str]:
        path = deviations.v3_path(request.path)
        method = request.method.lower()
        operation = self._operations.get(method, {}).get(path) or next(
            (op for op in self._operations.get(method, {}).values() if op.pattern.fullmatch(path)),
            None,
        )
        if path == deviations.SEARCH_JQL_PATH:
            unknown = set(request.args) - deviations.SEARCH_JQL_PARAMETERS
            return [f"unknown query parameter(s) {sorted(unknown)}"] if unknown else []
        if operation is None:
            return [f"no operation {request.method} {path} in the Jira REST API description"]
        query = list(request.args.items(multi=True))
        problems = [
            f"query parameter {name!r} is not declared for {request.method} {operation.template}"
            for name in dict(query)
            if name not in operation.query_names
        ]
        raw = request.get_data(cache=True)
        body = raw or None
        if raw:
            try:
                body = json.dumps(
                    deviations.as_v3_body(operation.template, json.loads(raw))
                ).encode()
            except ValueError:
                return [*problems, "the body is not JSON"]
        from openapi_core.datatypes import RequestParameters

        candidate = _OpenAPIRequest(
            path=path,
            method=method,
            parameters=RequestParameters(
                query=ImmutableMultiDict(query),
                header=Headers(request.headers),
                cookie=ImmutableMultiDict(),
            ),
            body=body,
            content_type=(request.content_type or "application/json").lower(),
        )
        for error in self._openapi.request_validator.iter_errors(candidate):
            problems.append(_describe(error))
        return problems


def _describe(error: Exception) -> str:
    text = str(error)
    details = [text if len(text) < 200 else type(error).__name__]
    cause = error.__cause__ or error.__context__
    for nested in (
        getattr(cause, "schema_errors", None) or getattr(error, "schema_errors", ()) or ()
    ):
        location = "/".join(str(p) for p in getattr(nested, "path", ()))
        details.append(f"{location}: {getattr(nested, 'message', nested)}")
    if cause is not None and not getattr(cause, "schema_errors", None):
        details.append(str(cause))
    return " | ".join(dict.fromkeys(d for d in details if d))


def _index(spec: dict[str, Any]) -> dict[str, dict[str, _Operation]]:
    """method -> v3 path template -> operation, with each operation's declared query names."""
    components = spec.get("components", {}).get("parameters", {})

    def resolve(parameter: dict[str, Any]) -> dict[str, Any]:
        ref = parameter.get("$ref")
        return components.get(ref.rsplit("/", 1)[-1], {}) if ref else parameter

    index: dict[str, dict[str, _Operation]] = {}
    for template, item in spec.get("paths", {}).items():
        shared = [resolve(p) for p in item.get("parameters", [])]
        pieces = re.split(r"\{[^}]+\}", template)
        pattern = re.compile("[^/]+".join(re.escape(piece) for piece in pieces))
        for method, operation in item.items():
            if method == "parameters" or not isinstance(operation, dict):
                continue
            declared = shared + [resolve(p) for p in operation.get("parameters", [])]
            names = frozenset(p["name"] for p in declared if p.get("in") == "query")
            index.setdefault(method, {})[template] = _Operation(template, pattern, names)
    return index


@functools.cache
def load_validator(path: Path = SPEC_PATH) -> RequestValidator | None:
    """The validator for `path`, built once; None (with a warning) when the file is absent."""
    if not path.is_file():
        warnings.warn(
            f"Jira OpenAPI description not found at {path}: the fake Jira runs without "
            "request validation (fetch ../shared/data to enable it)",
            stacklevel=2,
        )
        return None
    spec = json.loads(path.read_text(encoding="utf-8"))
    newer = path.with_name(NEWER_SPEC_PATH.name)
    if newer.is_file():
        spec = with_missing_operations(spec, json.loads(newer.read_text(encoding="utf-8")))
    return RequestValidator(spec)


def with_missing_operations(spec: dict[str, Any], newer: dict[str, Any]) -> dict[str, Any]:
    """`spec` plus `NEWER_PATHS` from `newer`, with the components they refer to."""
    added = {p: newer["paths"][p] for p in NEWER_PATHS if p in newer.get("paths", {})}
    components = {k: dict(v) for k, v in spec.get("components", {}).items()}
    pending = [added]
    while pending:
        node = pending.pop()
        if isinstance(node, list):
            pending.extend(node)
        elif isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/"):
                section, name = ref.removeprefix("#/components/").split("/", 1)
                target = components.setdefault(section, {})
                if name not in target:
                    target[name] = newer["components"][section][name]
                    pending.append(target[name])
            pending.extend(v for k, v in node.items() if k != "$ref")
    return {**spec, "paths": {**spec["paths"], **added}, "components": components}


def check_response(
    validator: RequestValidator, request: Request, status: int, body: bytes
) -> list[str]:
    """Problems with a fake response against the description's response schema (v3 twin)."""
    from openapi_core.datatypes import RequestParameters
    from werkzeug.datastructures import Headers as ResponseHeaders

    @dataclass
    class _Response:
        status_code: int
        data: bytes
        content_type: str = "application/json"
        headers: Any = None

    candidate = _OpenAPIRequest(
        path=deviations.v3_path(request.path),
        method=request.method.lower(),
        parameters=RequestParameters(
            query=ImmutableMultiDict(list(request.args.items(multi=True))),
            header=Headers(request.headers),
            cookie=ImmutableMultiDict(),
        ),
        body=None,
        content_type="application/json",
    )
    response = _Response(status, deviations.as_v3_response(body), headers=ResponseHeaders())
    return [
        _describe(error)
        for error in validator._openapi.response_validator.iter_errors(candidate, response)
    ]
