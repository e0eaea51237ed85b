"""YAML from outside (policy files, Markdown front matter) read at a cost we can state.

PyYAML's own loaders trust their input: nesting recurses until RecursionError, an alias is
shared when loaded but copied when the data is serialised (a 1.3 KB "billion laughs" becomes
hundreds of megabytes), `&a [*a]` builds a list that contains itself, and an unknown tag such as
`!!python/name:os.system` surfaces as an exception from deep inside the constructor. Here the
document is composed from the parser's events by a loop (no recursion), with every limit of
`YamlLimits` checked as the events arrive, so a hostile document stops at its first excess; only
plain YAML tags are accepted; values are then built by PyYAML's safe constructor. Every refusal
is a `YamlError` naming the source, the line and the limit. libyaml's parser is used when
PyYAML has it (about 20 times faster than the pure-Python one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

from kb.errors import KnowledgeBaseError

_Loader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STANDARD = "tag:yaml.org,2002:"
# The tags the safe constructor builds: strings, numbers, booleans, null, dates, lists, maps.
ALLOWED_TAGS = frozenset(tag for tag in SafeConstructor.yaml_constructors if tag is not None)


@dataclass(frozen=True)
class YamlLimits:
    """What one YAML document may cost; `what` names the document in messages."""

    what: str
    max_bytes: int
    max_depth: int
    max_values: int  # scalars, lists and mappings, counted once aliases are expanded
    max_chars: int  # characters of all scalars, counted once aliases are expanded
    max_aliases: int


class YamlError(KnowledgeBaseError):
    """A YAML document is malformed or over a limit; names the source and, when known, the line.

    `line` is 1-based within the YAML text (a caller that cut it out of a file adds its offset).
    """

    def __init__(self, source: str, reason: str, line: int | None = None) -> None:
        self.source = source
        self.reason = reason
        self.line = line
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {reason}")


@dataclass
class _Open:
    """A list or mapping whose end event has not arrived yet."""

    node: yaml.SequenceNode | yaml.MappingNode
    anchor: str | None
    values_before: int
    chars_before: int
    key: yaml.Node | None = None  # a mapping's key waiting for its value


def compose_yaml(text: str, source: str, limits: YamlLimits) -> yaml.Node | None:
    """The node tree of the single YAML document in `text` (None when it is empty).

    Nodes keep their marks (lines) for messages. Raises YamlError at the first limit exceeded,
    on a recursive or undefined alias, an unknown tag, invalid YAML or a second document.
    """
    size = len(text.encode("utf-8", "replace"))  # callers' inputs are bounded files or bodies
    if size > limits.max_bytes:
        raise YamlError(
            source,
            f"{limits.what} is {size:,} bytes; the limit is {limits.max_bytes:,} bytes",
        )
    loader = _Loader(text)
    try:
        return _compose(loader, source, limits)
    except yaml.YAMLError as error:
        invalid = _invalid(source, error)
        if invalid.line is not None:  # libyaml may point past the last line at a cut-off end
            invalid.line = min(invalid.line, text.rstrip().count("\n") + 1)
        if "maximum nesting depth" in invalid.reason:  # libyaml's own limit (1,000) came first
            raise YamlError(source, _too_deep(limits), invalid.line) from None
        raise YamlError(source, invalid.reason, invalid.line) from None
    finally:
        loader.dispose()


def construct_yaml(node: yaml.Node | None, source: str) -> Any:
    """Python values of a node tree from `compose_yaml` (safe constructor only)."""
    if node is None:
        return None
    constructor = _Constructor()
    try:
        return constructor.construct_document(node)
    except _ValueProblem as problem:
        raise YamlError(source, problem.reason(), problem.node.start_mark.line + 1) from None
    except yaml.YAMLError as error:
        raise _invalid(source, error) from None


def load_yaml(text: str, source: str, limits: YamlLimits) -> Any:
    """The Python value of the single YAML document in `text`, within `limits` (see module)."""
    return construct_yaml(compose_yaml(text, source, limits), source)


def _compose(loader: Any, source: str, limits: YamlLimits) -> yaml.Node | None:
    loader.get_event()  # StreamStartEvent
    if loader.check_event(yaml.StreamEndEvent):
        return None
    loader.get_event()  # DocumentStartEvent
    anchors: dict[str, tuple[yaml.Node, int, int]] = {}  # anchor -> (node, values, chars)
    stack: list[_Open] = []
    root: yaml.Node | None = None
    values = chars = aliases = 0

    def fail(event: yaml.Event, reason: str) -> YamlError:
        return YamlError(source, reason, event.start_mark.line + 1)

    def attach(node: yaml.Node) -> None:
        nonlocal root
        if not stack:
            root = node
            return
        parent = stack[-1]
        if isinstance(parent.node, yaml.SequenceNode):
            parent.node.value.append(node)
        elif parent.key is None:
            parent.key = node
        else:
            parent.node.value.append((parent.key, node))
            parent.key = None

    def count(event: yaml.Event, more_values: int, more_chars: int) -> None:
        nonlocal values, chars
        values += more_values
        chars += more_chars
        if values > limits.max_values:
            raise fail(
                event,
                f"{limits.what} holds over {limits.max_values:,} values once aliases are "
                "expanded (the limit); make it smaller or use fewer aliases",
            )
        if chars > limits.max_chars:
            raise fail(
                event,
                f"{limits.what} holds over {limits.max_chars:,} characters once aliases are "
                "expanded (the limit); make it smaller or use fewer aliases",
            )

    def check_tag(event: yaml.Event) -> None:
        tag = event.tag
        if tag is not None and tag != "!" and tag not in ALLOWED_TAGS:
            shown = "!!" + tag[len(_STANDARD) :] if tag.startswith(_STANDARD) else tag
            raise fail(
                event,
                f"tag {shown} is not allowed; {limits.what} may hold only plain YAML "
                "(strings, numbers, booleans, dates, lists and mappings)",
            )

    while True:
        event = loader.get_event()
        if isinstance(event, yaml.DocumentEndEvent):
            break
        if isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > limits.max_aliases:
                raise fail(
                    event,
                    f"{limits.what} uses over {limits.max_aliases:,} aliases (*name), the "
                    "limit; write the values out or use fewer aliases",
                )
            if any(open_.anchor == event.anchor for open_ in stack):
                raise fail(event, f"alias *{event.anchor} refers to a value that contains it")
            if event.anchor not in anchors:
                raise fail(event, f"alias *{event.anchor} names no anchor (&{event.anchor})")
            node, node_values, node_chars = anchors[event.anchor]
            count(event, node_values, node_chars)
            attach(node)
        elif isinstance(event, yaml.ScalarEvent):
            check_tag(event)
            tag = event.tag
            if tag is None or tag == "!":
                tag = loader.resolve(yaml.ScalarNode, event.value, event.implicit)
            node = yaml.ScalarNode(
                tag, event.value, event.start_mark, event.end_mark, style=event.style
            )
            count(event, 1, len(event.value))
            if event.anchor is not None:
                anchors[event.anchor] = (node, 1, len(event.value))
            attach(node)
        elif isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            check_tag(event)
            if len(stack) >= limits.max_depth:
                raise fail(event, _too_deep(limits))
            kind = (
                yaml.SequenceNode
                if isinstance(event, yaml.SequenceStartEvent)
                else yaml.MappingNode
            )
            tag = event.tag
            if tag is None or tag == "!":
                tag = loader.resolve(kind, None, event.implicit)
            node = kind(tag, [], event.start_mark, None, flow_style=event.flow_style)
            stack.append(_Open(node, event.anchor, values, chars))
            count(event, 1, 0)
        else:  # SequenceEndEvent or MappingEndEvent
            open_ = stack.pop()
            open_.node.end_mark = event.end_mark
            if open_.anchor is not None:
                anchors[open_.anchor] = (
                    open_.node,
                    values - open_.values_before,
                    chars - open_.chars_before,
                )
            attach(open_.node)
    if not loader.check_event(yaml.StreamEndEvent):
        event = loader.get_event()
        raise fail(event, f"{limits.what} holds more than one YAML document (---); keep one")
    return root


def _invalid(source: str, error: yaml.YAMLError) -> YamlError:
    """PyYAML's complaint as a YamlError: its problem and the line it points at."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    return YamlError(source, f"not valid YAML: {problem}", mark.line + 1 if mark else None)


def _too_deep(limits: YamlLimits) -> str:
    return (
        f"{limits.what} nests lists and mappings over {limits.max_depth} levels deep "
        "(the limit); flatten it"
    )


class _ValueProblem(Exception):
    def __init__(self, node: yaml.Node, cause: Exception) -> None:
        self.node = node
        self.cause = cause

    def reason(self) -> str:
        tag = str(self.node.tag).removeprefix(_STANDARD)
        if isinstance(self.cause, ValueError | OverflowError):
            return f"cannot read this value as {tag}: {self.cause}"
        return f"cannot read this value as {tag}: {str(self.node.value)[:80]!r}"


class _Constructor(SafeConstructor):
    """The safe constructor, reporting the node a value could not be built from."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, AttributeError, LookupError, OverflowError) as cause:
            # e.g. `!!int x`, `!!int ""`, a 5,000-digit integer, `2024-13-45`, `!!timestamp x`
            raise _ValueProblem(node, cause) from None
