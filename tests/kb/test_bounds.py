"""Issue 10, finding 4: every costly knowledge-base path has a bound, and says which one."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import pytest
from click.testing import CliRunner

from hindsight.cli import cli
from kb import LessonStore
from kb.errors import IngestError, InvalidQueryError
from kb.readers import read_bytes
from kb.search import MAX_QUERY_CHARS, SearchSettings
from kb.snippets import make_snippet
from kb.store import MAX_FILE_BYTES
from testkit.kb import HashingEmbedder

GOOD = "# Release retro\n\n## Lessons learned\n- Rehearse the rollback before the release.\n"


def _alias_bomb_front_matter() -> bytes:
    lines = ["---", "title: bomb", 'a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 9):
        lines.append(f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * 9)}]")
    return ("\n".join([*lines, "---", GOOD]) + "\n").encode()


def test_alias_bomb_in_front_matter_is_refused() -> None:
    data = _alias_bomb_front_matter()
    assert len(data) < 1_400  # the 1.3 KB file that once became a 351 MB metadata row
    with pytest.raises(IngestError) as caught:
        read_bytes("bomb.md", data)
    assert caught.value.line == 6  # a3 expands to 7,381 values
    assert caught.value.reason == (
        "front matter: the YAML holds over 2,000 values once aliases are expanded "
        "(the limit); make it smaller or use fewer aliases"
    )


@pytest.mark.parametrize(
    ("front", "line", "reason"),
    [
        ("a: &a [*a]", 2, "front matter: alias *a refers to a value that contains it"),
        ("run: !!python/object/apply:os.system [ls]", 2, "front matter: tag !!python/object"),
        ("team: x\nwhen: 2024-13-45", 3, "front matter: cannot read this value as timestamp"),
    ],
)
def test_hostile_front_matter_names_its_line(front: str, line: int, reason: str) -> None:
    with pytest.raises(IngestError) as caught:
        read_bytes("f.md", f"---\n{front}\n---\n{GOOD}".encode())
    assert caught.value.line == line
    assert caught.value.reason.startswith(reason)


def test_deep_front_matter_does_not_abort_other_files(tmp_path: Path) -> None:
    folder = tmp_path / "retros"
    folder.mkdir()
    (folder / "a-deep.md").write_text("---\ndeep: " + "[" * 1000 + "]" * 1000 + "\n---\n" + GOOD)
    (folder / "b-deep-json.jsonl").write_text('{"text": "x", "m": ' + "[" * 100_000 + "]}\n")
    (folder / "c-good.md").write_text(GOOD)
    with LessonStore(tmp_path / "kb.db", HashingEmbedder()) as store:
        report = store.ingest_paths([folder])
    assert [(Path(o.source).name, o.status) for o in report.outcomes] == [
        ("a-deep.md", "failed"),
        ("b-deep-json.jsonl", "failed"),
        ("c-good.md", "added"),
    ]
    deep, deep_json = (o.error or "" for o in report.errors)
    assert deep.endswith(
        "a-deep.md:2: front matter: the YAML nests lists and mappings over 16 levels deep "
        "(the limit); flatten it"
    )
    assert deep_json.endswith(
        "b-deep-json.jsonl:1: the JSON nests too deeply; a lesson is a flat object"
    )


def test_a_file_over_the_size_limit_is_refused_without_being_read(tmp_path: Path) -> None:
    huge = tmp_path / "huge.md"
    with huge.open("wb") as handle:  # 200 MB, sparse: costs no disk
        handle.truncate(200 * 1024 * 1024)
    (tmp_path / "small.md").write_text(GOOD)
    with LessonStore(tmp_path / "kb.db", HashingEmbedder()) as store:
        tracemalloc.start()
        try:
            report = store.ingest_paths([tmp_path], max_file_bytes=1024 * 1024)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < 20 * 1024 * 1024  # reading the file would have taken 200 MB
    [failure] = report.errors
    assert failure.error == (
        f"{huge}: the file is 209,715,200 bytes, over the limit of 1,048,576 bytes per file "
        "(HINDSIGHT_INGEST_MAX_FILE_BYTES or --max-file-bytes); split it or raise the limit"
    )
    assert report.count("added") == 1


def test_a_file_at_the_size_limit_is_read(tmp_path: Path) -> None:
    exact = tmp_path / "exact.md"
    exact.write_text(GOOD)
    with LessonStore(tmp_path / "kb.db", HashingEmbedder()) as store:
        report = store.ingest_paths([exact], max_file_bytes=len(GOOD))
    assert report.count("added") == 1


def test_query_over_cap_is_refused_by_the_store_before_any_work(tmp_path: Path) -> None:
    embedder = HashingEmbedder()
    with LessonStore(tmp_path / "kb.db", embedder) as store:
        store.ingest_source("retro.md", GOOD)
        embedder.embedded.clear()
        with pytest.raises(InvalidQueryError) as caught:
            store.search("rollback " * 1_000)
        assert embedder.embedded == []
        assert str(caught.value) == (
            f"the query is 9,000 characters; the limit is {MAX_QUERY_CHARS:,}: search with its "
            "key words or its first lines"
        )
        at_cap = ("rollback release " * 200)[:MAX_QUERY_CHARS]
        assert store.search(at_cap, limit=1)[0].text.startswith("Rehearse the rollback")


def test_a_long_query_embeds_at_most_max_query_chunks(tmp_path: Path) -> None:
    embedder = HashingEmbedder()  # 32 tokens per chunk: a 2,000-character query makes dozens
    with LessonStore(tmp_path / "kb.db", embedder) as store:
        store.ingest_source("retro.md", GOOD)
        embedder.embedded.clear()
        store.search(" ".join(f"word{i}" for i in range(300))[:MAX_QUERY_CHARS])
    assert len(embedder.embedded) == SearchSettings().max_query_chunks


def test_snippets_highlight_only_the_first_query_terms() -> None:
    text = "alpha beta gamma delta"
    assert len(make_snippet(text, "alpha beta gamma delta").highlights) == 4
    assert make_snippet(text, "alpha beta gamma delta", max_terms=2).highlights == (
        (0, 5),
        (6, 10),
    )


def test_query_over_cap_exits_2_in_the_cli(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["search", "x" * (MAX_QUERY_CHARS + 1), "--db", str(tmp_path / "kb.db")]
    )
    assert result.exit_code == 2
    assert f"the query is 2,001 characters; the limit is {MAX_QUERY_CHARS:,}" in result.output
    assert not (tmp_path / "kb.db").exists()  # refused before the store was opened


def test_ingest_over_the_size_limit_names_file_size_and_setting(tmp_path: Path) -> None:
    big = tmp_path / "big.md"
    big.write_text(GOOD * 10)
    result = CliRunner().invoke(
        cli,
        ["ingest", str(big), "--db", str(tmp_path / "kb.db")],
        env={"HINDSIGHT_INGEST_MAX_FILE_BYTES": "100"},
    )
    assert result.exit_code == 1
    assert f"error: {big}: the file is {os.path.getsize(big):,} bytes, over the limit of 100" in (
        result.output
    )
    assert "HINDSIGHT_INGEST_MAX_FILE_BYTES" in result.output
    bad = CliRunner().invoke(
        cli, ["ingest", str(big)], env={"HINDSIGHT_INGEST_MAX_FILE_BYTES": "lots"}
    )
    # a bad setting is refused as every command refuses one: exit 1, naming the variable
    assert bad.exit_code == 1 and "HINDSIGHT_INGEST_MAX_FILE_BYTES (environment)" in bad.output


@pytest.mark.real_model
def test_deep_front_matter_does_not_abort_the_ingest_command(tmp_path: Path) -> None:
    (tmp_path / "deep.md").write_text("---\nk: " + "[" * 1000 + "]" * 1000 + "\n---\n" + GOOD)
    (tmp_path / "good.md").write_text(GOOD)
    result = CliRunner().invoke(cli, ["ingest", str(tmp_path), "--db", str(tmp_path / "kb.db")])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "deep.md:2: front matter: the YAML nests lists and mappings" in result.output
    assert "2 sources: 1 added, 0 updated, 0 unchanged, 1 failed" in result.output


def test_front_matter_with_number_keys_is_stored_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "keys.md").write_text(
        "---\n1: one\nteam: {2024-01-01: x, .inf: .nan}\n---\n" + GOOD
    )
    with LessonStore(tmp_path / "kb.db", HashingEmbedder()) as store:
        report = store.ingest_paths([tmp_path])
        with store.db.read() as conn:
            [stored] = conn.execute("SELECT metadata FROM sources").fetchone()
    assert report.count("added") == 1
    assert stored == '{"1": "one", "team": {"2024-01-01": "x", "inf": "nan"}}'


@pytest.mark.parametrize("number", ["NaN", "-Infinity", "1e999", "9" * 5_000])
def test_jsonl_numbers_json_cannot_hold_are_refused(number: str) -> None:
    with pytest.raises(IngestError) as caught:
        read_bytes("l.jsonl", f'{{"text": "ok"}}\n{{"text": "x", "n": {number}}}\n'.encode())
    assert caught.value.line == 2
    assert caught.value.reason.startswith("not valid JSON (")


def test_an_in_memory_source_over_the_file_limit_is_refused(tmp_path: Path) -> None:
    with LessonStore(tmp_path / "kb.db", HashingEmbedder()) as store:
        with pytest.raises(IngestError) as caught:
            store.ingest_source("jira:RETRO-1", GOOD + "- x\n" * (MAX_FILE_BYTES // 4))
        assert caught.value.reason.startswith("the source is 4,194,")
        assert caught.value.reason.endswith(f"over the limit of {MAX_FILE_BYTES:,} bytes")
        assert store.is_empty()


def test_the_readme_states_the_limits_the_code_applies() -> None:
    from kb.readers.markdown import FRONT_MATTER_LIMITS as FRONT
    from plugin.policy.loader import POLICY_MAX_BYTES
    from plugin.policy.loader import POLICY_YAML_LIMITS as POLICY

    readme = " ".join((Path(__file__).resolve().parents[2] / "README.md").read_text().split())
    assert f"A query holds at most {MAX_QUERY_CHARS:,} characters" in readme
    assert f"`{MAX_FILE_BYTES}` ({MAX_FILE_BYTES // 1024 // 1024} MiB)" in readme
    assert (
        f"at most {FRONT.max_bytes // 1024} KiB, {FRONT.max_depth} levels of nesting, "
        f"{FRONT.max_aliases} aliases and {FRONT.max_values:,} values / "
        f"{FRONT.max_chars // 1024} K characters" in readme
    )
    assert f"takes at most {POLICY_MAX_BYTES // 1024} KiB" in readme
    assert (
        f"within {POLICY.max_bytes // 1024} KiB, {POLICY.max_depth} levels of nesting, "
        f"{POLICY.max_aliases:,} aliases and {POLICY.max_values:,} values" in readme
    )
