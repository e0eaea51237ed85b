"""Issue 14 with issue 10's rule: what PostgreSQL refuses and SQLite takes (NUL characters,
integers past 32 bits) never costs a file, a retrospective or a search, and both engines store
the same thing. Every test here runs on both engines (the `store` fixture).

NUL (U+0000): files and Jira are read with each one replaced by U+FFFD (kb.text.without_nul);
the web refuses one with a 400 (tests/webhooks/test_hostile_input.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kb import LessonStore
from kb.text import REPLACEMENT, without_nul

# A raw NUL byte in the body, YAML's "\0" escape in the front matter (a NUL once parsed)
MARKDOWN = (
    b'---\ntitle: "Release \\0 retro"\nteam: "pay\\0ments"\nproject: OPS\n---\n# Retro\n\n'
    b"## Lessons learned\n- Rehearse the\x00 rollback before the release.\n"
)
# JSON's \u0000 escape in every kind of field, the lesson's own id included
JSONL = (
    b'{"id": "J\\u00001", "text": "Rotate the keys\\u0000 monthly", "title": "keys\\u0000",'
    b' "tags": ["sec\\u0000"], "team": "x\\u0000"}\n'
)


def test_files_holding_nul_are_ingested_with_it_replaced(store: LessonStore, tmp_path: Path):
    (tmp_path / "retro.md").write_bytes(MARKDOWN)
    (tmp_path / "keys.jsonl").write_bytes(JSONL)

    report = store.ingest_paths([tmp_path])

    assert [(o.status, o.lessons) for o in report.outcomes] == [("added", 1), ("added", 1)]
    (rollback,) = store.search("rollback", limit=3, mode="keyword")
    assert rollback.lesson.text == f"Rehearse the{REPLACEMENT} rollback before the release."
    (keys,) = store.search("rotate keys", limit=3, mode="keyword")
    assert (keys.lesson.id, keys.lesson.title, keys.lesson.tags) == (
        f"J{REPLACEMENT}1",
        f"keys{REPLACEMENT}",
        (f"sec{REPLACEMENT}",),
    )
    # the retrospectives list reads the metadata as JSON (jsonb on PostgreSQL)
    titles = {r.title for r in store.curation.retrospectives()}
    assert f"Release {REPLACEMENT} retro" in titles
    assert store.search("rollback", limit=3)  # the vectors too


def test_a_jira_source_holding_nul_is_ingested_with_it_replaced(store: LessonStore) -> None:
    """A captured retrospective: Jira's summary (the title) and description may hold one."""
    outcome = store.ingest_source(
        "jira:OPS-1", "# Sum\x00mary\n\n## Lessons learned\n- Page the DBA\x00 first.\n",
        title="Outage\x00 review", project="OPS",
    )  # fmt: skip

    assert outcome.status == "added"
    (hit,) = store.search("page the DBA", limit=3, mode="keyword")
    assert (hit.lesson.title, hit.lesson.text) == (
        f"Outage{REPLACEMENT} review",
        f"Page the DBA{REPLACEMENT} first.",
    )


def test_without_nul_keeps_what_holds_none_and_replaces_everywhere_else() -> None:
    clean = {"a": ["b", ("c",)]}
    assert without_nul(clean) is clean
    assert without_nul({"k\x00": ["v\x00", ("w\x00", 1)]}) == {
        f"k{REPLACEMENT}": [f"v{REPLACEMENT}", (f"w{REPLACEMENT}", 1)]
    }


@pytest.mark.parametrize("votes", ["3000000000", "1e30", "-3000000000"])
def test_votes_past_32_bits_fail_that_file_only(store: LessonStore, tmp_path: Path, votes: str):
    """3e9 fit SQLite and broke PostgreSQL's INTEGER; 1e30 broke both, aborting the whole run."""
    (tmp_path / "a.jsonl").write_text(f'{{"text": "Rotate the keys monthly", "votes": {votes}}}\n')
    (tmp_path / "b.jsonl").write_text('{"text": "Rehearse the rollback", "votes": 2147483647}\n')

    report = store.ingest_paths([tmp_path])

    failed, added = report.outcomes
    assert failed.status == "failed" and "out of range (at most 2,147,483,647)" in failed.error
    assert (added.status, added.lessons) == ("added", 1)
    assert store.search("rollback", limit=1, mode="keyword")[0].lesson.votes == 2147483647


def test_a_jsonl_line_with_half_a_surrogate_pair_fails_that_file_only(
    store: LessonStore, tmp_path: Path
) -> None:
    """`\\ud800` decodes to a lone surrogate that neither engine can encode: the whole run
    aborted with UnicodeEncodeError. A whole pair (an emoji) is a character, and is kept."""
    (tmp_path / "a.jsonl").write_text('{"text": "Rotate the keys \\ud800 monthly"}\n')
    (tmp_path / "b.jsonl").write_text('{"text": "Rehearse the rollback \\ud83d\\ude00"}\n')

    failed, added = store.ingest_paths([tmp_path]).outcomes

    assert failed.status == "failed" and failed.error.endswith(
        "a.jsonl:1: holds an unpaired UTF-16 surrogate (such as \\ud800), which is not Unicode;"
        " write the character itself or remove the escape"
    )
    assert added.status == "added"
    assert store.search("rollback", limit=1, mode="keyword")[0].lesson.text.endswith("\U0001f600")


def test_rows_of_more_pks_than_a_statement_takes(store: LessonStore) -> None:
    """`hindsight search --limit 70000` over a large store asked for 70,000 rows in one
    `IN (...)`: PostgreSQL takes at most 65,535 parameters a statement."""
    from kb.reads import rows_by_pk

    store.ingest_source("retro", "# Retro\n\n## Lessons learned\n- Rehearse the rollback.\n")
    (hit,) = store.search("rollback", limit=1, mode="keyword")
    pk = next(iter(rows_by_pk(store, list(range(1, 70_001)))))

    assert rows_by_pk(store, [pk])[pk]["id"] == hit.lesson.id


@pytest.mark.parametrize("field", ["id", "project", "kind", "source", "tags"])
def test_a_name_longer_than_an_index_takes_fails_that_file_only(
    store: LessonStore, tmp_path: Path, field: str
) -> None:
    """PostgreSQL refuses an index entry past 2,704 bytes (SQLite took it): a 6,000-character
    project aborted the whole ingest run there. A title is not indexed so: it may be long."""
    import json

    name = "x" * 6_000
    record = {"text": "Rotate the keys monthly", field: [name] if field == "tags" else name}
    (tmp_path / "a.jsonl").write_text(json.dumps(record) + "\n")
    long_title = {"text": "Rehearse the rollback", "title": "t" * 6_000}
    (tmp_path / "b.jsonl").write_text(json.dumps(long_title) + "\n")

    failed, added = store.ingest_paths([tmp_path]).outcomes

    field_name = "tag" if field == "tags" else field
    assert failed.status == "failed" and failed.error.endswith(
        f"a.jsonl:1: the lesson's {field_name} is 6,000 characters ('xxxxxxxxxxxxxxxxxxxx'...);"
        " at most 200 are allowed"
    )
    assert added.status == "added"
