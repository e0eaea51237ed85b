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

from kb.bounded_yaml import YamlError, YamlLimits, compose_yaml, construct_yaml
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
        with path.open("rb") as handle:
            data = handle.read(POLICY_MAX_BYTES + 1)  # never more than the limit allows
        if len(data) > POLICY_MAX_BYTES:  # (a pipe or a device has no size to state)
            size = path.stat().st_size
            limit = f"the limit is {POLICY_MAX_BYTES:,} bytes"
            message = (
                f"the policy file is {size:,} bytes; {limit}"
                if size > POLICY_MAX_BYTES
                else f"the policy file is over the limit; {limit}"
            )
            raise PolicyError([PolicyProblem(str(path), None, "", message)])
        text = data.decode("utf-8")
    except OSError as exc:
        raise PolicyError(
            [PolicyProblem(str(path), None, "", f"cannot read the policy file: {exc.strerror}")]
        ) from exc
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise PolicyError(
            [PolicyProblem(str(path), line, "", "the policy file is not UTF-8; save it as UTF-8")]
        ) from None
    return parse_policy(text, source=str(path))


def parse_policy(text: str, *, source: str = "policy.yaml") -> Policy:
    """Validate policy YAML given as text (`source` names it in messages).

    The YAML is read within `POLICY_YAML_LIMITS` (size, nesting, aliases, values), so a
    hostile file costs at most a fraction of a second and is refused with its line.
    """
    try:
        root = compose_yaml(text, source, POLICY_YAML_LIMITS)
    except YamlError as exc:
        raise PolicyError([PolicyProblem(source, exc.line, "", exc.reason)]) from None
    if root is None:
        raise PolicyError([PolicyProblem(source, None, "", "the policy file is empty")])
    if not isinstance(root, yaml.MappingNode):
        raise PolicyError(
            [PolicyProblem(source, root.start_mark.line + 1, "", "the policy must be a mapping")]
        )
    duplicates = list(_duplicate_keys(root, ""))
    if duplicates:
        raise PolicyError(
            _at_most(
                [
                    PolicyProblem(source, line, path, f"key '{key}' appears twice; keep one")
                    for line, path, key in duplicates
                ]
            )
        )
    try:
        data = construct_yaml(root, source)
    except YamlError as exc:
        raise PolicyError([PolicyProblem(source, exc.line, "", exc.reason)]) from None
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        problems = [_problem(source, root, err) for err in errors[:MAX_PROBLEMS]]
        raise PolicyError(_at_most(problems, total=len(errors))) from None


POLICY_MAX_BYTES = 256 * 1024
# A real policy has a few hundred values; these leave ample room and bound the cost of a
# hostile file (bench/bounded_paths.py measures it at the limits).
POLICY_YAML_LIMITS = YamlLimits(
    what="the policy file",
    max_bytes=POLICY_MAX_BYTES,
    max_depth=32,
    max_values=20_000,
    max_chars=1_000_000,
    max_aliases=1_000,
)
MAX_PROBLEMS = 100  # more would only bury the first ones (and cost time to locate)


def _at_most(problems: list[PolicyProblem], total: int | None = None) -> list[PolicyProblem]:
    """The first MAX_PROBLEMS problems, then one line saying how many were left out."""
    total = len(problems) if total is None else total
    if total <= MAX_PROBLEMS:
        return problems
    kept = problems[:MAX_PROBLEMS]
    source = kept[0].source
    more = PolicyProblem(source, None, "", f"... and {total - MAX_PROBLEMS} more problems")
    return [*kept, more]


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
