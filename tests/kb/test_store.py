"""LessonStore: incremental ingest, atomic replacement, search modes, filters, models."""

from __future__ import annotations

from pathlib import Path

import pytest

from hindsight.wiring import Config
from kb import LessonStore
from kb.errors import (
    IngestError,
    InvalidQueryError,
    LessonNotFoundError,
    ModelMismatchError,
    StoreUnavailableError,
)
from kb.records import retrospective_id
from testkit.kb import HashingEmbedder


def _count(store: LessonStore, sql: str = "SELECT count(*) FROM lessons") -> int:
    with store.db.read() as conn:
        return conn.execute(sql).fetchone()[0]


def test_ingest_examples_then_unchanged_reingest_touches_no_model(
    store: LessonStore, embedder: HashingEmbedder, examples: Path
) -> None:
    report = store.ingest_paths([examples])
    assert report.errors == []
    assert report.count("added") == 8
    lessons = _count(store)
    assert lessons == report.lessons_written > 40
    embedded = len(embedder.embedded)

    again = store.ingest_paths([examples])
    assert again.count("unchanged") == 8
    assert again.lessons_seen == lessons
    assert len(embedder.embedded) == embedded
    assert _count(store) == lessons


def test_changed_file_replaces_its_lessons_keeping_ids_and_vectors_of_unchanged_text(
    store: LessonStore, embedder: HashingEmbedder, examples: Path
) -> None:
    path = examples / "2024-06-friday-deploy-change-freeze.md"
    store.ingest_paths([path])
    before = {h.id: h.text for h in store.search("change freeze deploy", limit=50)}
    embedder.embedded.clear()

    path.write_text(path.read_text() + "- Announce freezes in the team calendar as well.\n")
    report = store.ingest_paths([path])
    assert [o.status for o in report.outcomes] == ["updated"]
    assert len(embedder.embedded) == 1
    assert "Announce freezes" in embedder.embedded[0]
    after = {h.id: h.text for h in store.search("change freeze deploy", limit=50)}
    assert set(before) < set(after)
    assert all(after[lesson_id] == text for lesson_id, text in before.items())


def test_a_bad_file_is_reported_and_the_others_are_ingested(
    store: LessonStore, examples: Path
) -> None:
    (examples / "broken.jsonl").write_text('{"text": "fine"}\n{oops\n')
    (examples / "latin1.md").write_bytes(b"# Caf\xe9\n- d\xe9ploiement\n")
    report = store.ingest_paths([examples, examples / "missing.md"])
    failed = {Path(o.source).name: o.error for o in report.errors}
    assert set(failed) == {"broken.jsonl", "latin1.md", "missing.md"}
    assert "broken.jsonl:2: not valid JSON" in failed["broken.jsonl"]
    assert "not valid UTF-8" in failed["latin1.md"]
    assert report.count("added") == 8
    with store.db.read() as conn:
        sources = [uri for (uri,) in conn.execute("SELECT uri FROM sources")]
    assert not any(uri.endswith(("broken.jsonl", "latin1.md")) for uri in sources)
    assert _count(store, "SELECT count(*) FROM lessons WHERE text = 'fine'") == 0


def test_prune_removes_lessons_of_deleted_files(store: LessonStore, examples: Path) -> None:
    store.ingest_paths([examples])
    gone = examples / "lessons-pmo.jsonl"
    gone.unlink()
    report = store.ingest_paths([examples], prune=True)
    assert (report.pruned_sources, report.pruned_lessons) == (1, 4)
    with pytest.raises(LessonNotFoundError):
        store.get("PMO-101")


def test_jsonl_ids_are_kept_and_clashing_ids_fail_the_second_source(
    store: LessonStore, examples: Path, tmp_path: Path
) -> None:
    store.ingest_paths([examples / "lessons-pmo.jsonl"])
    assert store.get("PMO-102").title == "Freeze scope before user acceptance testing"
    hits = store.search("freeze scope before acceptance testing", limit=3)
    assert hits[0].id == "PMO-102"
    assert hits[0].source == "PMO lessons register"
    clash = tmp_path / "other.jsonl"
    clash.write_text('{"id": "PMO-101", "text": "another lesson"}\n')
    report = store.ingest_paths([clash])
    assert "already belongs to" in (report.errors[0].error or "")
    assert store.get("PMO-101").text.startswith("Third-party integrations")


def test_ingest_source_replaces_atomically_and_skips_unchanged(store: LessonStore) -> None:
    text = "## Lessons learned\n- Rehearse the rollback.\n- Load test before launch.\n"
    first = store.ingest_source(
        "jira:PAY-7", text, title="PAY-7 retro", project="PAY", tags=["retro"], date="2024-05-01"
    )
    assert (first.status, first.lessons) == ("added", 2)
    hit = store.search("rehearse rollback", limit=1)[0]
    assert (hit.title, hit.project, hit.tags, hit.date, hit.kind) == (
        "PAY-7 retro",
        "PAY",
        ("retro",),
        "2024-05-01",
        "lesson",
    )
    same = store.ingest_source(
        "jira:PAY-7", text, title="PAY-7 retro", project="PAY", tags=["retro"], date="2024-05-01"
    )
    assert same.status == "unchanged"
    updated = store.ingest_source("jira:PAY-7", "## Lessons learned\n- Only one now.\n")
    assert (updated.status, updated.lessons) == ("updated", 1)
    assert _count(store) == 1
    with pytest.raises(IngestError):
        store.ingest_source("jira:PAY-8", "   ")


def test_a_retrospectives_lessons_come_in_document_order(store: LessonStore) -> None:
    text = "## Lessons learned\n- Third is last.\n- Then the second.\n- And one more.\n"
    store.ingest_source("jira:PAY-9", text, title="PAY-9 retro")
    store.ingest_source("jira:PAY-10", "## Risks\n- Unrelated.\n", title="PAY-10 retro")
    retro, lessons = store.retrospective(retrospective_id("jira:PAY-9"))
    assert retro.title == "PAY-9 retro" and retro.lessons == 3
    assert [lesson.text for lesson in lessons] == [
        "Third is last.",
        "Then the second.",
        "And one more.",
    ]
    assert {lesson.retrospective_id for lesson in lessons} == {retro.id}
    with pytest.raises(LessonNotFoundError, match="retrospectives list"):
        store.retrospective(retrospective_id("jira:nowhere"))


def test_a_store_made_by_the_first_schema_is_migrated_in_place(tmp_path: Path) -> None:
    from sqlite_utils.migrations import Migrations

    from kb.database import connect, migrate
    from kb.schema import MIGRATIONS, m001_initial

    path = tmp_path / "old.db"
    conn = connect(path)
    first_only = Migrations(MIGRATIONS.name)
    first_only(name="m001_initial")(m001_initial)
    assert migrate(conn, first_only) == ["m001_initial"]
    conn.close()
    with LessonStore(path) as store:
        store.ingest_source("jira:OLD-1", "## Risks\n- Kept after the upgrade.\n", title="old")
        with store.db.read() as conn:
            indexes = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        assert "lessons_display_source" in indexes  # m002 ran on the old file
        _, lessons = store.retrospective(retrospective_id("jira:OLD-1"))
        assert [lesson.text for lesson in lessons] == ["Kept after the upgrade."]


@pytest.mark.parametrize("mode", ["hybrid", "keyword", "semantic"])
@pytest.mark.parametrize("query", ['"', "AND OR (", "NEAR(a b", "*", "col:x", "'; DROP TABLE", ""])
def test_hostile_queries_do_not_crash(
    store: LessonStore, examples: Path, mode: str, query: str
) -> None:
    store.ingest_paths([examples])
    hits = store.search(query, mode=mode)
    assert isinstance(hits, list)
    assert _count(store) > 0


def test_keyword_search_stems_and_marks_matches(store: LessonStore, examples: Path) -> None:
    store.ingest_paths([examples])
    hits = store.search("rehearsing migrations", mode="keyword", limit=3)
    assert hits and "Rehearse" in hits[0].text
    assert hits[0].found_by == {"keyword": 1}
    assert hits[0].similarity is None
    marked = {hits[0].snippet.text[a:b].lower() for a, b in hits[0].snippet.highlights}
    assert "rehearse" in marked
    assert any(word.startswith("migration") for word in marked)


def test_chinese_two_character_words_are_found(store: LessonStore, examples: Path) -> None:
    store.ingest_paths([examples])
    hits = store.search("回滚", mode="keyword", limit=5)
    assert hits and all("回滚" in hit.text or "回滚" in hit.title for hit in hits)
    assert any(hit.snippet.text[a:b] == "回滚" for hit in hits for a, b in hit.snippet.highlights)
    handover = store.search("值班交接清单", mode="keyword", limit=1)
    assert handover[0].project == "OPS"


def test_hybrid_reports_rankings_and_similarity(store: LessonStore, examples: Path) -> None:
    store.ingest_paths([examples])
    hits = store.search("expired certificate renewal", limit=5)
    top = hits[0]
    assert top.project == "API"
    assert set(top.found_by) == {"keyword", "semantic"}
    assert all(hit.similarity is not None and -1.0 <= hit.similarity <= 1.0 for hit in hits)
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)


def test_filters(store: LessonStore, examples: Path) -> None:
    store.ingest_paths([examples])
    assert {h.project for h in store.search("rollback", project="pay", limit=50)} == {"PAY"}
    assert {h.kind for h in store.search("deploy", kind="action", limit=50)} == {"action"}
    tagged = store.search("certificate", tag="TLS", limit=50)
    assert tagged and all("tls" in [t.lower() for t in h.tags] for h in tagged)
    recent = store.search("lesson", since="2024-05-01", limit=50)
    assert recent and all(h.date and h.date >= "2024-05-01" for h in recent)
    with pytest.raises(InvalidQueryError, match="YYYY-MM-DD"):
        store.search("x", since="last year")
    with pytest.raises(InvalidQueryError, match="unknown mode"):
        store.search("x", mode="fuzzy")


def test_snippet_html_escapes_before_marking(store: LessonStore) -> None:
    store.ingest_source("api:1", "## Lessons\n- <script>alert(1)</script> broke the deploy\n")
    hit = store.search("deploy", mode="keyword")[0]
    assert hit.snippet.html() == (
        "&lt;script&gt;alert(1)&lt;/script&gt; broke the <mark>deploy</mark>"
    )
    assert hit.to_dict()["snippet_marked"].endswith("«deploy»")


def test_other_model_is_detected_and_reindex_fixes_it(store_config: Config, examples: Path) -> None:
    path = store_config.kb.db
    with LessonStore(path, HashingEmbedder(name="model-a")) as store:
        store.ingest_paths([examples])
    other = HashingEmbedder(name="model-b", dimensions=48)
    with LessonStore(path, other) as store:
        with pytest.raises(ModelMismatchError, match="hindsight reindex"):
            store.search("rollback")
        with pytest.raises(ModelMismatchError):
            store.ingest_paths([examples])
        assert store.search("rollback", mode="keyword")
        redone = store.reindex()
        assert redone == store.stats().lessons
        assert store.stats().model == "model-b"
        assert store.stats().lessons_without_vectors == 0
        assert store.search("rollback")[0].similarity is not None


def test_keyword_only_store_then_reindex_adds_vectors(store_config: Config, examples: Path) -> None:
    with LessonStore(store_config.kb.db) as plain:
        plain.ingest_paths([examples])
        assert plain.search("rollback")[0].found_by == {"keyword": 1}
        assert plain.stats().lessons_without_vectors == plain.stats().lessons
    with LessonStore(store_config.kb.db, HashingEmbedder()) as store:
        assert store.reindex() == store.stats().lessons
        assert "semantic" in store.search("rollback")[0].found_by


def test_stats(store: LessonStore, examples: Path) -> None:
    store.ingest_paths([examples])
    stats = store.stats()
    assert stats.sources == 8
    assert stats.model == "fake-hashing"
    assert stats.lessons == sum(stats.by_kind.values())
    assert stats.by_project["PAY"] > 0


def test_a_postgresql_server_out_of_reach_is_named_with_what_to_check() -> None:
    pytest.importorskip("psycopg", reason="pip install 'hindsight[postgres]'")
    url = "postgresql://hindsight:s3cret@127.0.0.1:1/hindsight"  # nothing listens on port 1
    with pytest.raises(StoreUnavailableError) as refused:
        LessonStore(url)
    message = str(refused.value)
    assert "cannot reach the PostgreSQL database postgresql://hindsight:***@127.0.0.1:1" in message
    assert "HINDSIGHT_DB" in message and "s3cret" not in message


def test_a_postgresql_url_is_never_taken_for_a_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StoreUnavailableError):
        LessonStore("postgresql://hindsight@127.0.0.1:1/hindsight")
    assert not list(tmp_path.rglob("*"))  # no ./postgresql:/... file stood in for the server
