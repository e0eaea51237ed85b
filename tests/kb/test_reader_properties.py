"""Property: whatever a file holds, reading it either yields storable lessons or an IngestError,
and storing those lessons succeeds on either engine (PostgreSQL refuses what SQLite takes: a
NUL, a lone surrogate, an integer past 32 bits, an index entry past 2,704 bytes).

Anything else (RecursionError, TypeError from a YAML key `1:`, IndexError from `!!int ""`...)
would abort a whole `hindsight ingest` run. The documents are built from fragments that reach
the parsers' corners (anchors, aliases, tags, merge keys, NaN, deep brackets); examples are
bounded so the suite stays fast.
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from kb import LessonStore
from kb.errors import IngestError
from kb.readers import read_text
from kb.store import _json
from tests.conftest import examples

YAML_FRAGMENTS = [
    "a", "1", "- ", ": ", " ", "\n", "[", "]", "{", "}", "&a ", "*a", "!!int ", "!!str ",
    "!!python/name:os.system", "!!binary x", "!!set {a}", "? ", "<<: ", "2024-13-01",
    "2024-01-01", ".inf", ".nan", "~", "'", '"', ",", "|", "#", "...", "!", "\t", "é", "汉",
    "title: ", "tags: ", "date: ", "summary: ", "99999999999999999999999", "[[[[[[[[",
]  # fmt: skip
JSON_FRAGMENTS = [
    "{", "}", "[", "]", '"text"', ":", ",", '"x"', "1", "1e999", "NaN", "-Infinity", "null",
    '"tags"', '"date"', '"votes"', '"id"', "\n", " ", '"\\ud800"', "9" * 30, "[" * 50,
    '"project"', '"kind"', '"source"', '"\\u0000"', '"' + "x" * 3_000 + '"', "3000000000",
]  # fmt: skip
CSV_HEADER = "reflectionGroup,author,votes,prompt,type,createdAt,discussionThread,content\n"

fragments = lambda pieces, size: st.lists(st.sampled_from(pieces), max_size=size).map("".join)  # noqa: E731
markdown = st.builds(
    lambda front, body: f"---\n{front}\n---\n# Title\n\n{body}\n",
    fragments(YAML_FRAGMENTS, 60),
    st.text(max_size=40),
)
jsonl = fragments(JSON_FRAGMENTS, 40)
parabol = st.builds(
    lambda body: CSV_HEADER + body,
    st.text(alphabet=st.sampled_from(list(',"\n\r ax1-é\x00')), max_size=80),
)
EXAMPLES = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))


def _read_or_refuse(name: str, text: str, fmt: str) -> None:
    try:
        parsed = read_text(name, text, fmt)
    except IngestError:
        return
    _json(parsed.metadata)  # what the store writes must serialise
    for lesson in parsed.lessons:
        _json(lesson.metadata)


@EXAMPLES
@given(markdown)
def test_any_front_matter_is_read_or_refused_with_an_ingest_error(text: str) -> None:
    _read_or_refuse("retro.md", text, "markdown")


@EXAMPLES
@given(jsonl)
def test_any_jsonl_line_is_read_or_refused_with_an_ingest_error(text: str) -> None:
    _read_or_refuse("lessons.jsonl", text, "jsonl")


@EXAMPLES
@given(parabol)
def test_any_parabol_csv_is_read_or_refused_with_an_ingest_error(text: str) -> None:
    _read_or_refuse("retro.csv", text, "parabol")


# -- stored, on both engines: a file is ingested or refused with its IngestError, nothing else

# JSONL lines shaped like lessons: a text (NUL included) and one more field, drawn from texts
# and from values past what a PostgreSQL column or index takes
FIELD_VALUES = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["a\x00b", "x" * 3_000, "\ud800", 3_000_000_000, 10**30]),
    st.lists(st.sampled_from(["a\x00", "x" * 3_000, "ops"]), max_size=2),
)
lesson_lines = st.builds(
    lambda text, field, value: json.dumps({"text": text, field: value}),
    st.text(min_size=1, max_size=20).filter(str.strip),
    st.sampled_from(["id", "title", "project", "kind", "source", "section", "tags", "votes"]),
    FIELD_VALUES,
)


@settings(max_examples=examples(100), deadline=None, suppress_health_check=list(HealthCheck))
@given(case=st.one_of(
    markdown.map(lambda text: ("markdown", text)),
    jsonl.map(lambda text: ("jsonl", text)),
    lesson_lines.map(lambda text: ("jsonl", text)),
    parabol.map(lambda text: ("parabol", text)),
))  # fmt: skip
def test_any_file_is_stored_or_refused_on_either_engine(
    store: LessonStore, case: tuple[str, str]
) -> None:
    fmt, text = case
    try:
        outcome = store.ingest_source(f"property.{fmt}", text, format=fmt)
    except IngestError as refused:
        event(f"refused: {refused.reason.split(' ')[0]}")
        return
    event(outcome.status)
