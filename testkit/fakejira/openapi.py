"""Validate the fake's requests and responses against Atlassian's OpenAPI descriptions of Jira.

Both descriptions in ../shared/data/jira-openapi are used: the 2022 snapshot and Atlassian's
December 2025 one. A request must be allowed by every description that has its operation (an
operation only one has, e.g. `/search/jql` or create meta per issue type, is checked against
that one), and on Cloud an operation the newest description marks deprecated (removed, or being
removed, from Cloud) is refused. openapi-core checks path, method, parameters and body; on top
of it, query parameters the operation does not declare are refused too (Jira ignores them
silently, which hides bugs). Each description (~2 MB) is parsed and indexed once per process.
"""

from __future__ import annotations

import functools
import json
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from werkzeug.datastructures import Headers, ImmutableMultiDict
from werkzeug.wrappers import Request

from testkit.fakejira import deviations

SPEC_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "jira-openapi"
# oldest first: the last one is Atlassian's current word on what Cloud serves
SPEC_FILES = {
    "2022": "platform-swagger.v3.json",
    "2025-12": "platform-swagger.v3.2025-12.json",
}
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
    deprecated: bool = False


class SpecValidator:
    """Checks a werkzeug `Request` (REST v2) against one v3 description; returns problems."""

    def __init__(self, name: str, spec: dict[str, Any]) -> None:
        from openapi_core import Config, OpenAPI
        from openapi_core.validation.request.validators import V30RequestParametersValidator

        class ParametersAndBody(V30RequestParametersValidator):
            """Parameters and body, not security (deviation 6)."""

            def iter_errors(self, request: Any) -> Any:
                yield from super().iter_errors(request)
                try:
                    _, operation, *_ = self._find_path(request)
                except Exception:  # reported by the parameters pass already
                    return
                yield from self._iter_body_errors(request, operation)

        self.name = name
        # Atlassian's 2025-12 file breaks the OpenAPI meta-schema in places (enum defaults of
        # ""), which does not affect request checks: the description itself is not validated.
        self._openapi = OpenAPI.from_dict(
            spec,
            config=Config(request_validator_cls=ParametersAndBody, spec_validator_cls=None),
        )
        self._operations = _index(spec)

    def operation(self, method: str, path: str) -> _Operation | None:
        """The operation serving `method path` (a v3 path), if this description has one."""
        operations = self._operations.get(method.lower(), {})
        return operations.get(path) or next(
            (op for op in operations.values() if op.pattern.fullmatch(path)), None
        )

    def check(self, request: Request, operation: _Operation) -> list[str]:
        path = deviations.v3_path(request.path)
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
        candidate = _candidate(request, path, query, body)
        for error in self._openapi.request_validator.iter_errors(candidate):
            problems.append(_describe(error))
        return problems

    def check_response(self, request: Request, status: int, body: bytes) -> list[str]:
        @dataclass
        class _Response:
            status_code: int
            data: bytes
            content_type: str = "application/json"
            headers: Any = None

        from werkzeug.datastructures import Headers as ResponseHeaders

        candidate = _candidate(
            request, deviations.v3_path(request.path), list(request.args.items(multi=True)), None
        )
        response = _Response(status, deviations.as_v3_response(body), headers=ResponseHeaders())
        return [
            _describe(error)
            for error in self._openapi.response_validator.iter_errors(candidate, response)
        ]


class RequestValidator:
    """Every description present, oldest first; `check` says what any of them refuses."""

    def __init__(self, specs: list[SpecValidator]) -> None:
        if not specs:
            raise ValueError("give at least one description")
        self.specs = specs

    @property
    def names(self) -> list[str]:
        return [spec.name for spec in self.specs]

    def _describing(self, request: Request) -> Iterator[tuple[SpecValidator, _Operation]]:
        path = deviations.v3_path(request.path)
        for spec in self.specs:
            operation = spec.operation(request.method, path)
            if operation is not None:
                yield spec, operation

    def check(self, request: Request, *, flavour: str = "cloud") -> list[str]:
        """Problems with `request`, each naming the description that has it."""
        describing = list(self._describing(request))
        if not describing:
            path = deviations.v3_path(request.path)
            return [f"no operation {request.method} {path} in the Jira REST API descriptions"]
        problems: list[str] = []
        newest = self.specs[-1]
        current = newest.operation(request.method, deviations.v3_path(request.path))
        if flavour == "cloud" and current is not None and current.deprecated:
            problems.append(
                f"[{newest.name}] {request.method} {current.template} is deprecated: "
                "Atlassian removes it from Cloud (see the operation's description)"
            )
        for spec, operation in describing:
            problems += [f"[{spec.name}] {p}" for p in spec.check(request, operation)]
        return problems

    def check_response(self, request: Request, status: int, body: bytes) -> list[str]:
        """Problems with a fake response against each description's response schema."""
        return [
            f"[{spec.name}] {p}"
            for spec, _ in self._describing(request)
            for p in spec.check_response(request, status, body)
        ]


def _candidate(
    request: Request, path: str, query: list[tuple[str, str]], body: bytes | None
) -> _OpenAPIRequest:
    from openapi_core.datatypes import RequestParameters

    return _OpenAPIRequest(
        path=path,
        method=request.method.lower(),
        parameters=RequestParameters(
            query=ImmutableMultiDict(query),
            header=Headers(request.headers),
            cookie=ImmutableMultiDict(),
        ),
        body=body,
        content_type=(request.content_type or "application/json").lower(),
    )


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
            index.setdefault(method, {})[template] = _Operation(
                template, pattern, names, bool(operation.get("deprecated"))
            )
    return index


@functools.cache
def load_validator(directory: Path = SPEC_DIR) -> RequestValidator | None:
    """The validator over every description in `directory`, built once; None (with a warning)
    when none is there. A missing one is warned about: checks are weaker without it."""
    specs = []
    for name, filename in SPEC_FILES.items():
        path = directory / filename
        if not path.is_file():
            warnings.warn(
                f"Jira OpenAPI description {name} not found at {path}: the fake Jira checks "
                "requests without it (fetch ../shared/data to enable it)",
                stacklevel=2,
            )
            continue
        specs.append(SpecValidator(name, json.loads(path.read_text(encoding="utf-8"))))
    return RequestValidator(specs) if specs else None


def check_response(
    validator: RequestValidator, request: Request, status: int, body: bytes
) -> list[str]:
    """Problems with a fake response against the descriptions' response schemas (v3 twin)."""
    return validator.check_response(request, status, body)
