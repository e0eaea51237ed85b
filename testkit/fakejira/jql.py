"""The handful of JQL Hindsight uses, evaluated over the fake's issues.

Supported: `field op value` with `=`, `!=`, `<`, `<=`, `>`, `>=`, `~`, `in (...)`, `not in (...)`,
`is [not] EMPTY|NULL`; `AND`, `OR`, `NOT`, parentheses; values as words, "quoted strings",
`now()`, `currentUser()`, `EMPTY`, `Unresolved`; fields `project`, `key`/`issuekey`, `status`,
`statusCategory`, `labels`, `issuetype`/`type`, `resolution`, `assignee`, `reporter`, `parent`,
`summary`, `text`, `created`, `updated`, `duedate`, custom fields by name, `cf[N]` or id.
`ORDER BY` is accepted and ignored. Anything else is a 400, as real Jira answers.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from testkit.fakejira.model import FakeIssue, FakeUser

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<op>!=|<=|>=|!~|=|<|>|~|\(|\)|,)
      | (?P<word>[^\s=!<>~(),"']+(?:\(\))?)
    )""",
    re.VERBOSE,
)


class JqlError(ValueError):
    """A query the fake (like Jira) cannot run; the message is Jira's wording where known."""


@dataclass(frozen=True)
class Token:
    kind: str  # string | op | word
    text: str

    def is_word(self, *words: str) -> bool:
        return self.kind == "word" and self.text.lower() in words


@dataclass(frozen=True)
class JqlContext:
    """What predicates need beyond the issue: field names, the clock and the caller."""

    field_ids: Callable[[str], str | None]  # name or clause -> field id, None if unknown
    now: datetime
    current_user: FakeUser | None


Predicate = Callable[[FakeIssue], bool]


def tokenize(jql: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(jql):
        if jql[pos:].strip() == "":
            break
        match = _TOKEN.match(jql, pos)
        if not match or match.end() == pos:
            raise JqlError(f"Error in the JQL Query: unexpected character at position {pos}.")
        kind = match.lastgroup or "word"
        text = match.group(kind)
        if kind == "string":
            text = re.sub(r"\\(.)", r"\1", text[1:-1])
        tokens.append(Token(kind, text))
        pos = match.end()
    return tokens


def compile_jql(jql: str, context: JqlContext) -> Predicate:
    """A predicate for `jql`; an empty query matches everything."""
    tokens = tokenize(jql)
    for index, token in enumerate(tokens):
        if token.is_word("order") and index + 1 < len(tokens) and tokens[index + 1].is_word("by"):
            tokens = tokens[:index]
            break
    if not tokens:
        return lambda issue: True
    parser = _Parser(tokens, context)
    predicate = parser.expression()
    if parser.pos != len(tokens):
        raise JqlError(f"Error in the JQL Query: unexpected '{tokens[parser.pos].text}'.")
    return predicate


class _Parser:
    def __init__(self, tokens: list[Token], context: JqlContext) -> None:
        self.tokens = tokens
        self.pos = 0
        self.context = context

    def peek(self) -> Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise JqlError("Error in the JQL Query: the query ends too early.")
        self.pos += 1
        return token

    def expression(self) -> Predicate:
        left = self.conjunction()
        while (token := self.peek()) is not None and token.is_word("or"):
            self.take()
            right = self.conjunction()
            left = (lambda a, b: lambda issue: a(issue) or b(issue))(left, right)
        return left

    def conjunction(self) -> Predicate:
        left = self.negation()
        while (token := self.peek()) is not None and token.is_word("and"):
            self.take()
            right = self.negation()
            left = (lambda a, b: lambda issue: a(issue) and b(issue))(left, right)
        return left

    def negation(self) -> Predicate:
        token = self.peek()
        if token is not None and token.is_word("not"):
            self.take()
            inner = self.negation()
            return lambda issue: not inner(issue)
        if token is not None and token.kind == "op" and token.text == "(":
            self.take()
            inner = self.expression()
            closing = self.take()
            if closing.text != ")":
                raise JqlError("Error in the JQL Query: expected ')'.")
            return inner
        return self.clause()

    def clause(self) -> Predicate:
        name = self.take()
        if name.kind == "op":
            raise JqlError(f"Error in the JQL Query: expected a field name, got '{name.text}'.")
        operator = self.take()
        op = operator.text.lower()
        if operator.is_word("not"):
            if not self.take().is_word("in"):
                raise JqlError("Error in the JQL Query: expected 'in' after 'not'.")
            op = "not in"
        elif operator.is_word("is"):
            op = "is"
            if (nxt := self.peek()) is not None and nxt.is_word("not"):
                self.take()
                op = "is not"
        elif operator.kind != "op" and op != "in":
            raise JqlError(f"Error in the JQL Query: unknown operator '{operator.text}'.")
        values = self.values() if op in ("in", "not in") else [self.value()]
        return _predicate(name.text, op, values, self.context)

    def values(self) -> list[Any]:
        if self.take().text != "(":
            raise JqlError("Error in the JQL Query: expected '(' after 'in'.")
        values = [self.value()]
        while (token := self.take()).text == ",":
            values.append(self.value())
        if token.text != ")":
            raise JqlError("Error in the JQL Query: expected ')'.")
        return values

    def value(self) -> Any:
        token = self.take()
        if token.kind == "string":
            return token.text
        lowered = token.text.lower()
        if lowered in ("empty", "null"):
            return None
        if lowered == "now()":
            return self.context.now
        if lowered == "currentuser()":
            return self.context.current_user
        if token.kind == "op":
            raise JqlError(f"Error in the JQL Query: expected a value, got '{token.text}'.")
        return token.text


_ALIASES = {"issuekey": "key", "type": "issuetype", "cf": "custom"}


def _predicate(name: str, op: str, values: list[Any], context: JqlContext) -> Predicate:
    field = _ALIASES.get(name.lower(), name.lower())
    getter: Callable[[FakeIssue], Any]
    if field in _SYSTEM:
        getter = _SYSTEM[field]
    else:
        field_id = context.field_ids(name)
        if field_id is None:
            raise JqlError(
                f"Field '{name}' does not exist or you do not have permission to view it."
            )
        getter = (lambda fid: lambda issue: issue.fields.get(fid))(field_id)
    return _compare(getter, op, values, context)


def _user_refs(user: FakeUser | None) -> set[str]:
    return set() if user is None else {user.account_id, user.name, user.key}


_SYSTEM: dict[str, Callable[[FakeIssue], Any]] = {
    "project": lambda i: {i.project.key, i.project.id, i.project.name},
    "key": lambda i: {i.key, i.id},
    "status": lambda i: {i.status.name, i.status.id},
    "statuscategory": lambda i: {
        i.status.category,
        {"new": "To Do", "indeterminate": "In Progress", "done": "Done"}[i.status.category],
        {"new": "2", "indeterminate": "4", "done": "3"}[i.status.category],
    },
    "labels": lambda i: set(i.fields.get("labels", [])) or None,
    "issuetype": lambda i: {i.issuetype.name, i.issuetype.id},
    "resolution": lambda i: {i.resolution["name"], i.resolution["id"]} if i.resolution else None,
    "assignee": lambda i: _user_refs(i.assignee) or None,
    "reporter": lambda i: _user_refs(i.reporter) or None,
    "parent": lambda i: {i.parent} if i.parent else None,
    "summary": lambda i: i.fields.get("summary", ""),
    "text": lambda i: f"{i.fields.get('summary', '')}\n{i.fields.get('description') or ''}",
    "created": lambda i: i.created,
    "updated": lambda i: i.updated,
    "duedate": lambda i: i.fields.get("duedate"),
}


def _compare(
    getter: Callable[[FakeIssue], Any], op: str, values: list[Any], context: JqlContext
) -> Predicate:
    if op in ("is", "is not"):
        if values != [None]:
            raise JqlError("Error in the JQL Query: 'is' takes EMPTY or NULL.")
        want_empty = op == "is"
        return lambda issue: _is_empty(getter(issue)) == want_empty
    if op in ("~", "!~"):
        needle = str(values[0]).lower()
        contains = op == "~"
        return lambda issue: (needle in str(getter(issue) or "").lower()) == contains
    if op in ("<", "<=", ">", ">="):
        bound = _as_date(values[0])
        if bound is None:
            raise JqlError(f"Error in the JQL Query: '{values[0]}' is not a date or now().")
        compare = {
            "<": lambda a, b: a < b,
            "<=": lambda a, b: a <= b,
            ">": lambda a, b: a > b,
            ">=": lambda a, b: a >= b,
        }[op]

        def ordered(issue: FakeIssue) -> bool:
            value = _as_date(getter(issue))
            return value is not None and compare(value, bound)

        return ordered
    wanted = {_as_text(v) for v in values}
    unresolved = any(isinstance(v, str) and v.lower() == "unresolved" for v in values)
    positive = op in ("=", "in")

    def member(issue: FakeIssue) -> bool:
        value = getter(issue)
        if value is None:
            # like Jira: `!=` and `not in` never match an empty field
            return positive and (unresolved or None in values)
        have = {_as_text(v) for v in (value if isinstance(value, set) else [value])}
        hit = bool({w.lower() for w in wanted if w} & {h.lower() for h in have if h})
        return hit == positive

    return member


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == set() or value == []


def _as_text(value: Any) -> str:
    if isinstance(value, FakeUser):
        return value.account_id
    return "" if value is None else str(value)


def _as_date(value: Any) -> datetime | None:
    """Dates, datetimes and Jira's `yyyy-MM-dd[ HH:mm]` strings; naive values are UTC-less."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("/", "-")
    for pattern in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            parsed = datetime.strptime(text, pattern)
        except ValueError:
            continue
        return parsed.replace(tzinfo=None) if parsed.tzinfo is None else _naive_utc(parsed)
    return None


def _naive_utc(value: datetime) -> datetime:
    offset = value.utcoffset()
    return (value - offset).replace(tzinfo=None) if offset is not None else value
