"""Curation in the store: add, edit, archive, merge; history; re-ingest keeps the changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from kb import LessonStore
from kb.curation import CurationError, StaleEditError
from kb.errors import LessonNotFoundError
from testkit.kb import HashingEmbedder

RETRO = """# Payments retro

## Lessons learned

- Rehearse the database migration rollback before the release window.
- Keep the feature flag off until the canary is healthy.
"""


@pytest.fixture
def retro(store: LessonStore, tmp_path: Path) -> Path:
    path = tmp_path / "retro.md"
    path.write_text(RETRO)
    assert store.ingest_paths([path]).errors == []
    return path


def _lesson_id(store: LessonStore, words: str) -> str:
    return store.search(words, limit=1, mode="keyword")[0].id


def test_edit_changes_text_records_before_and_after_and_reembeds_only_that_lesson(
    store: LessonStore, embedder: HashingEmbedder, retro: Path
) -> None:
    lesson_id = _lesson_id(store, "rollback")
    embedder.embedded.clear()
    edited = store.curation.edit(
        lesson_id, "dana", {"text": "Rehearse the rollback of every schema change.", "tags": "db"}
    )
    assert edited.text == "Rehearse the rollback of every schema change."
    assert edited.tags == ("db",)
    assert embedder.embedded == ["Payments retro\nRehearse the rollback of every schema change."]
    (revision,) = store.curation.history(lesson_id)
    assert (revision.actor, revision.action) == ("dana", "edit")
    assert revision.before["text"].startswith("Rehearse the database migration")
    assert revision.after == {"text": edited.text, "tags": ["db"]}
    assert store.search("schema change", limit=3, mode="keyword")[0].id == lesson_id
    old_words = store.search("database migration release window", limit=5, mode="keyword")
    assert lesson_id not in {h.id for h in old_words}
    assert [h.id for h in store.search("anything", limit=5, tag="db", mode="semantic")] == [
        lesson_id
    ]


def test_edit_without_a_change_records_nothing_and_a_tag_only_edit_embeds_nothing(
    store: LessonStore, embedder: HashingEmbedder, retro: Path
) -> None:
    lesson_id = _lesson_id(store, "canary")
    embedder.embedded.clear()
    store.curation.edit(lesson_id, "dana", {"text": store.get(lesson_id).text})
    assert store.curation.history(lesson_id) == []
    store.curation.edit(lesson_id, "dana", {"tags": ["flags"], "project": "pay"})
    assert embedder.embedded == []
    assert store.get(lesson_id).project == "PAY"
    assert store.search("canary healthy", limit=1, mode="semantic")[0].id == lesson_id


def test_a_stale_edit_is_refused(store: LessonStore, retro: Path) -> None:
    lesson_id = _lesson_id(store, "canary")
    seen = store.curation.state(lesson_id).revision
    store.curation.edit(lesson_id, "ana", {"title": "Canary first"}, expected_revision=seen)
    with pytest.raises(StaleEditError, match="reload"):
        store.curation.edit(lesson_id, "bo", {"title": "Flags"}, expected_revision=seen)
    assert store.get(lesson_id).title == "Canary first"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"text": "  "}, "needs its text"),
        ({"kind": "Went Wrong!"}, "is not a kind"),
        ({"project": "not a key"}, "not a Jira project key"),
        ({"tags": ",".join(f"t{i}" for i in range(30))}, "at most 20"),
        ({"source": "x"}, "cannot edit source"),
    ],
)
def test_bad_edits_say_what_to_fix(
    store: LessonStore, retro: Path, changes: dict, message: str
) -> None:
    with pytest.raises(CurationError, match=message):
        store.curation.edit(_lesson_id(store, "canary"), "dana", changes)


def test_archive_leaves_search_keeps_the_page_and_restore_brings_it_back(
    store: LessonStore, retro: Path
) -> None:
    lesson_id = _lesson_id(store, "canary")
    store.curation.archive(lesson_id, "dana", note="obsolete since flags moved")
    assert lesson_id not in {h.id for h in store.search("canary healthy", limit=10)}
    assert store.get(lesson_id).text.startswith("Keep the feature flag")
    assert store.curation.state(lesson_id).status == "archived"
    store.curation.restore(lesson_id, "dana")
    assert store.search("canary healthy", limit=1)[0].id == lesson_id
    actions = [r.action for r in store.curation.history(lesson_id)]
    assert actions == ["restore", "archive"]


def test_reingest_keeps_edits_archives_and_added_lessons(store: LessonStore, retro: Path) -> None:
    rollback, canary = _lesson_id(store, "rollback"), _lesson_id(store, "canary")
    store.curation.edit(rollback, "dana", {"title": "Rollbacks"})
    store.curation.archive(canary, "dana")
    added = store.curation.add(
        "dana", text="Page the on-call before a migration.", source_uri=str(retro.resolve())
    )
    retro.write_text(RETRO + "- Write the runbook first.\n")
    assert store.ingest_paths([retro]).outcomes[0].status == "updated"
    assert store.get(rollback).title == "Rollbacks"
    assert store.curation.state(canary).status == "archived"
    assert canary not in {h.id for h in store.search("canary healthy", limit=10)}
    assert store.get(added.id).text == "Page the on-call before a migration."
    assert added.id in {h.id for h in store.search("on-call migration", limit=5)}
    _, lessons = store.retrospective(added.retrospective_id)
    assert {lesson.id for lesson in lessons} >= {rollback, added.id}


def test_add_to_a_new_retrospective_and_the_choice_is_required(store: LessonStore) -> None:
    lesson = store.curation.add(
        "dana", text="Freeze deploys on Fridays.", kind="went_wrong", new_retrospective="Q3"
    )
    assert lesson.kind == "went_wrong"
    assert [r.title for r in store.curation.retrospectives()] == ["Q3"]
    assert store.curation.history(lesson.id)[0].action == "add"
    assert store.search("friday deploys", limit=1)[0].id == lesson.id
    with pytest.raises(CurationError, match="choose the retrospective"):
        store.curation.add("dana", text="x")
    with pytest.raises(CurationError, match="no retrospective"):
        store.curation.add("dana", text="x", source_uri="nowhere")


def test_merge_redirects_and_leaves_search(store: LessonStore, retro: Path) -> None:
    rollback, canary = _lesson_id(store, "rollback"), _lesson_id(store, "canary")
    store.curation.merge(canary, rollback, "dana", note="same lesson")
    state = store.curation.state(canary)
    assert (state.status, state.merged_into) == ("merged", rollback)
    assert store.curation.merged_from(rollback) == [canary]
    assert canary not in {h.id for h in store.search("canary healthy", limit=10)}
    assert store.curation.history(rollback)[0].after == {"merged": canary}
    with pytest.raises(CurationError, match="into itself"):
        store.curation.merge(rollback, rollback, "dana")
    with pytest.raises(CurationError, match="merged; merge into an active"):
        store.curation.merge(rollback, canary, "dana")
    with pytest.raises(LessonNotFoundError):
        store.curation.merge(rollback, "nope", "dana")


def test_revisions_are_append_only(store: LessonStore, retro: Path) -> None:
    lesson_id = _lesson_id(store, "canary")
    store.curation.archive(lesson_id, "dana")
    with pytest.raises(Exception, match="append-only"), store.db.write() as conn:
        conn.execute("DELETE FROM lesson_revisions")
