from __future__ import annotations

from plugin.lessons.comment import MARKER
from plugin.lessons.config import LessonsSettings, SuggestionOverride
from plugin.lessons.suggest import Suggester, text_changed_substantially
from tests.plugin.lessons.conftest import BASE

MIGRATION_ISSUE = dict(
    summary="Database migration for the payments release",
    description="We will run a schema migration on the payments database; plan the rollback.",
)


def hindsight_comments(jira, key):
    return [c for c in jira.get_issue(key).comments if MARKER in c.body]


def test_comments_the_lessons_that_clear_the_threshold(jira, suggester) -> None:
    jira.put("PAY-1", **MIGRATION_ISSUE)
    outcome = suggester.suggest(jira, "PAY-1")
    assert outcome.action == "created"
    assert outcome.lesson_ids[:2] == ["L-migrate", "L-rollback"] or set(outcome.lesson_ids[:2]) == {
        "L-migrate",
        "L-rollback",
    }
    assert "L-vendor" not in outcome.lesson_ids
    (comment,) = hindsight_comments(jira, "PAY-1")
    assert f"{BASE}/lessons/L-migrate" in comment.body
    assert comment.body.count("/lessons/feedback?t=") == 2 * len(outcome.lesson_ids)
    assert "Rehearse database migrations" in comment.body


def test_no_comment_when_nothing_clears_the_threshold(jira, suggester) -> None:
    jira.put("PAY-2", summary="Update the office plant watering rota", description="")
    outcome = suggester.suggest(jira, "PAY-2")
    assert outcome.action == "none"
    assert jira.writes == []


def test_a_second_run_writes_nothing(jira, suggester) -> None:
    jira.put("PAY-1", **MIGRATION_ISSUE)
    suggester.suggest(jira, "PAY-1")
    clock_moved = suggester._clock
    assert suggester.suggest(jira, "PAY-1").action == "unchanged"
    assert clock_moved is suggester._clock
    assert jira.operations() == [("add_comment", "PAY-1")]


def test_a_changed_issue_edits_the_one_comment(jira, suggester, clock) -> None:
    jira.put("PAY-1", summary="Order new servers", description="vendor lead times for hardware")
    suggester.suggest(jira, "PAY-1")
    jira.update("PAY-1", **MIGRATION_ISSUE)
    clock.advance(hours=1)
    outcome = suggester.suggest(jira, "PAY-1")
    assert outcome.action == "edited"
    (comment,) = hindsight_comments(jira, "PAY-1")
    assert "L-migrate" in comment.body


def test_finds_its_comment_by_marker_when_the_record_is_lost(jira, suggester, journal) -> None:
    jira.put("PAY-1", **MIGRATION_ISSUE)
    jira.add_comment("PAY-1", MARKER + " an older Hindsight comment")
    outcome = suggester.suggest(jira, "PAY-1")
    assert outcome.action == "edited"
    assert len(hindsight_comments(jira, "PAY-1")) == 1


def test_a_dismissed_lesson_is_never_suggested_again_on_that_issue(jira, suggester, journal):
    jira.put("PAY-1", **MIGRATION_ISSUE)
    jira.put("PAY-9", **MIGRATION_ISSUE)
    suggester.suggest(jira, "PAY-1")
    journal.record_feedback("PAY-1", "L-migrate", "not_relevant")
    outcome = suggester.suggest(jira, "PAY-1")
    assert "L-migrate" not in outcome.lesson_ids
    assert "L-migrate" not in hindsight_comments(jira, "PAY-1")[0].body
    assert "L-migrate" in suggester.suggest(jira, "PAY-9").lesson_ids  # other issues still get it


def test_helpful_answers_raise_a_lesson_above_an_equal_one(jira, index, journal, signer, clock):
    index.lessons.clear()
    index.add("L-a", "Alpha", "canary deploys catch regressions early")
    index.add("L-b", "Beta", "canary deploys catch regressions early")
    policy = LessonsSettings(threshold=0.2, limit=1)
    suggester = Suggester(index, journal, policy, signer, base_url=BASE, clock=clock)
    jira.put("OPS-1", summary="canary deploys", description="catch regressions early")
    assert suggester.suggest(jira, "OPS-1").lesson_ids == ["L-a"]  # ties break by id
    for n in range(3):
        journal.record_feedback(f"OPS-{10 + n}", "L-b", "helpful")
    jira.put("OPS-2", summary="canary deploys", description="catch regressions early")
    outcome = suggester.suggest(jira, "OPS-2")
    assert outcome.lesson_ids == ["L-b"]
    assert 0 < outcome.suggestions[0].feedback_boost < 0.05


def test_project_and_labels_boost_but_do_not_filter(jira, suggester) -> None:
    jira.put("PAY-1", labels=("database",), **MIGRATION_ISSUE)
    jira.put("OPS-1", **MIGRATION_ISSUE)
    boosted = suggester.suggest(jira, "PAY-1").suggestions
    plain = suggester.suggest(jira, "OPS-1").suggestions
    boost = {s.hit.id: s.context_boost for s in boosted}
    assert boost["L-migrate"] == 0.05  # same project + one matching tag
    assert {s.hit.id: s.context_boost for s in plain}["L-migrate"] == 0.0
    assert {s.hit.id for s in plain} == {s.hit.id for s in boosted}


def test_per_project_threshold_and_switch(jira, index, journal, signer, clock) -> None:
    policy = LessonsSettings(
        projects={
            "OFF": SuggestionOverride(enabled=False),
            "HIGH": SuggestionOverride(threshold=0.99),
        }
    )
    suggester = Suggester(index, journal, policy, signer, base_url=BASE, clock=clock)
    jira.put("OFF-1", **MIGRATION_ISSUE)
    jira.put("HIGH-1", **MIGRATION_ISSUE)
    assert suggester.suggest(jira, "OFF-1").action == "disabled"
    assert suggester.suggest(jira, "HIGH-1").action == "none"
    assert jira.writes == []


def test_never_suggests_an_issue_its_own_captured_text(jira, index, suggester) -> None:
    index.add(
        "L-self",
        "Database migration for the payments release",
        MIGRATION_ISSUE["description"],
        source="https://jira.example.test/browse/PAY-1",
    )
    jira.put("PAY-1", **MIGRATION_ISSUE)
    assert "L-self" not in suggester.suggest(jira, "PAY-1").lesson_ids


def test_wiki_markup_in_lessons_is_escaped(jira, index, suggester) -> None:
    index.add("L-x", "[click|javascript:alert(1)]", "database migration rollback {html}<b>x")
    jira.put("PAY-1", **MIGRATION_ISSUE)
    body = hindsight_comments(jira, "PAY-1") or None
    suggester.suggest(jira, "PAY-1")
    (comment,) = hindsight_comments(jira, "PAY-1")
    assert body is None
    assert "[click|javascript" not in comment.body
    assert r"\[click\|javascript:alert(1)\]" in comment.body
    assert "{html}" not in comment.body


def test_substantial_change_detection() -> None:
    assert not text_changed_substantially("Fix the login bug", "Fix the login bug.")
    assert not text_changed_substantially("a b c d e f g h i j", "a b c d e f g h i k")
    assert text_changed_substantially("Fix the login bug", "Migrate billing to the new database")
    assert text_changed_substantially("", "Something new")
    assert not text_changed_substantially("", "")


def test_an_unset_threshold_is_the_one_calibrated_for_the_model(
    jira, index, journal, signer, clock
) -> None:
    policy = LessonsSettings(threshold=None)
    suggester = Suggester(index, journal, policy, signer, base_url=BASE, clock=clock)
    jira.put("PAY-1", **MIGRATION_ISSUE)
    index.related_similarity = 0.2
    chosen = suggester.suggest(jira, "PAY-1").suggestions
    assert chosen and all(s.similarity >= 0.2 for s in chosen)
    index.related_similarity = 0.99  # the model's bar moved: nothing clears it any more
    jira.put("PAY-2", **MIGRATION_ISSUE)
    assert suggester.suggest(jira, "PAY-2").action == "none"
