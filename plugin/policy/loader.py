"""Load a policy file from YAML, keeping the line of every key so errors point at it.

Errors read `policy.yaml:14: rules[2].requires: unknown key 'aproval'; allowed: ...`. YAML is
composed into nodes first (their marks hold the lines), checked for duplicate keys (PyYAML would
silently keep the last one), constructed with the safe constructor, then validated by the models.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from plugin.policy.model import Policy


@dataclass(frozen=True)
class PolicyProblem:
    """One thing wrong with a policy file, where it is, and what to do about it."""

    source: str
    line: int | None
    path: str  # e.g. rules[2].requires.fields; "" for the whole file
    message: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "path": self.path, "message": self.message}


class PolicyError(Exception):
    """The policy file is invalid; every problem is listed with its file and line."""

    def __init__(self, problems: Sequence[PolicyProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def load_policy(path: str | Path) -> Policy:
    """Read and validate the policy file at `path`; raise PolicyError naming each problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(
            [PolicyProblem(str(path), None, "", f"cannot read the policy file: {exc.strerror}")]
        ) from exc
    return parse_policy(text, source=str(path))


def parse_policy(text: str, *, source: str = "policy.yaml") -> Policy:
    """Validate policy YAML given as text (`source` names it in messages)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise PolicyError([PolicyProblem(source, line, "", f"not valid YAML: {problem}")]) from exc
    if root is None:
        raise PolicyError([PolicyProblem(source, None, "", "the policy file is empty")])
    if not isinstance(root, yaml.MappingNode):
        raise PolicyError(
            [PolicyProblem(source, root.start_mark.line + 1, "", "the policy must be a mapping")]
        )
    if _expanded_size(root, {}) > MAX_NODES:
        raise PolicyError(
            [
                PolicyProblem(
                    source,
                    None,
                    "",
                    f"too large: over {MAX_NODES} values once YAML "
                    "aliases are expanded; split the policy or use fewer aliases",
                )
            ]
        )
    duplicates = list(_duplicate_keys(root, ""))
    if duplicates:
        raise PolicyError(
            [
                PolicyProblem(source, line, path, f"key '{key}' appears twice; keep one")
                for line, path, key in duplicates
            ]
        )
    data = yaml.SafeLoader(text).construct_document(root)
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError([_problem(source, root, err) for err in exc.errors()]) from None


MAX_NODES = 200_000  # a real policy has a few hundred; aliases must not multiply that


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """How many values the document holds once aliases are expanded (without expanding it)."""
    if id(node) in memo:
        return memo[id(node)]
    memo[id(node)] = 1  # a recursive alias counts once; PyYAML refuses recursion later
    if isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(item, memo) for item in node.value)
    else:
        size = 1
    memo[id(node)] = size
    return size


def _duplicate_keys(node: yaml.Node, path: str):
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                yield key_node.start_mark.line + 1, path, key
            seen.add(key)
            yield from _duplicate_keys(value_node, f"{path}.{key}" if path else key)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _duplicate_keys(item, f"{path}[{index}]")


def _problem(source: str, root: yaml.Node, err: Any) -> PolicyProblem:
    loc = tuple(err["loc"])
    if err["type"] == "unknown_key":
        loc = (*loc, err["ctx"]["key"])
    line, path, parent_path = _locate(root, loc)
    message = _message(err)
    if err["type"] == "unknown_key":
        path = parent_path  # the message names the key itself
    return PolicyProblem(source, line, path, message)


def _locate(root: yaml.Node, loc: tuple[Any, ...]) -> tuple[int, str, str]:
    """Follow a pydantic location through the YAML nodes: (line, dotted path, parent's path).

    Location parts that are not in the YAML (the `kind` tag of a rule, a missing key, an index
    into a scalar that stood for a one-item list) are left out of the path.
    """
    node: yaml.Node | None = root
    line = root.start_mark.line + 1
    path = parent = ""
    for part in loc:
        parent = path
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            match = next(((k, v) for k, v in node.value if str(k.value) == part), None)
            if match is None:
                if part == loc[-1]:
                    path = f"{path}.{part}" if path else part
                continue
            line, node = match[0].start_mark.line + 1, match[1]
            path = f"{path}.{part}" if path else part
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                break
            node = node.value[part]
            line = node.start_mark.line + 1
            path = f"{path}[{part}]"
        else:
            continue
    return line, path, parent


_QUOTED = re.compile(r"'([^']*)'")


def _message(err: Any) -> str:
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind == "literal_error":
        allowed = _QUOTED.findall(str(ctx.get("expected", ""))) or [str(ctx.get("expected"))]
        return f"{err['input']!r} is not allowed; must be one of: {', '.join(allowed)}"
    if kind == "union_tag_invalid":
        tags = ", ".join(_QUOTED.findall(str(ctx.get("expected_tags", ""))))
        return f"unknown kind '{ctx.get('tag')}'; allowed: {tags}"
    if kind == "union_tag_not_found":
        return "missing 'kind'; allowed: change-control, risk-review"
    if kind == "missing":
        return f"missing required key '{err['loc'][-1]}'"
    if kind == "string_pattern_mismatch":
        return (
            f"{err['input']!r} is not a valid name: use lower-case letters, digits and dashes "
            "(at most 63), starting with a letter or digit"
        )
    if kind in ("model_type", "dict_type"):
        return f"expected a mapping (key: value), got {type(err['input']).__name__}"
    if kind in ("tuple_type", "list_type"):
        return f"expected a list, got {type(err['input']).__name__}"
    return str(err["msg"]).removeprefix("Value error, ")
