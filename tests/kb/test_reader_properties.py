"""Property: whatever a file holds, reading it either yields storable lessons or an IngestError.

Anything else (RecursionError, TypeError from a YAML key `1:`, IndexError from `!!int ""`...)
would abort a whole `hindsight ingest` run. The documents are built from fragments that reach
the parsers' corners (anchors, aliases, tags, merge keys, NaN, deep brackets); examples are
bounded so the suite stays fast.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kb.errors import IngestError
from kb.readers import read_text
from kb.store import _json

YAML_FRAGMENTS = [
    "a", "1", "- ", ": ", " ", "\n", "[", "]", "{", "}", "&a ", "*a", "!!int ", "!!str ",
    "!!python/name:os.system", "!!binary x", "!!set {a}", "? ", "<<: ", "2024-13-01",
    "2024-01-01", ".inf", ".nan", "~", "'", '"', ",", "|", "#", "...", "!", "\t", "é", "汉",
    "title: ", "tags: ", "date: ", "summary: ", "99999999999999999999999", "[[[[[[[[",
]  # fmt: skip
JSON_FRAGMENTS = [
    "{", "}", "[", "]", '"text"', ":", ",", '"x"', "1", "1e999", "NaN", "-Infinity", "null",
    '"tags"', '"date"', '"votes"', '"id"', "\n", " ", '"\\ud800"', "9" * 30, "[" * 50,
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
