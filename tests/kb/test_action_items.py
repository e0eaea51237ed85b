"""Action items: the parser (English and Chinese), ingest, web additions, the Jira link."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from hindsight.wiring import Config
from kb import LessonStore
from kb.actions import ActionItemNotFound, JiraPushBusy, item_id_for_lesson
from kb.curation import CurationError
from kb.readers import read_text
from kb.readers.actions import ActionDraft, parse_action
from testkit.clock import StepClock
from testkit.kb import HashingEmbedder


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Add a rollback rehearsal to the release checklist (owner: Dana, due 2025-10-15)",
            ActionDraft("Add a rollback rehearsal to the release checklist", "Dana", "2025-10-15"),
        ),
        ("@dana write the runbook", ActionDraft("write the runbook", "dana")),
        (
            "Rotate certificates. Owner - Dana Smith; due by 2025/10/15",
            ActionDraft("Rotate certificates.", "Dana Smith", "2025-10-15"),
        ),
        (
            "Assigned to Bo: page the DBA, deadline 2025-1-5",
            ActionDraft("page the DBA", "Bo", "2025-01-05"),
        ),
        ("Write the runbook (done)", ActionDraft("Write the runbook", done=True)),
        ("Mail ops@example.com first", ActionDraft("Mail ops@example.com first")),
        ("Fix it by 2025-02-30", ActionDraft("Fix it by 2025-02-30")),  # not a date: kept
    ],
)
def test_parse_english(text: str, expected: ActionDraft) -> None:
    assert parse_action(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "增加证书过期监控 负责人：王芳 截止：2025-10-15",
            ActionDraft("增加证书过期监控", "王芳", "2025-10-15"),
        ),
        (
            "截止日期：2025年10月15日，负责人：李雷，更新告警阈值",
            ActionDraft("更新告警阈值", "李雷", "2025-10-15"),
        ),
        ("补充回滚演练（已完成）责任人: 张伟", ActionDraft("补充回滚演练", "张伟", done=True)),
        ("完成时间：2025/9/1 编写值班手册", ActionDraft("编写值班手册", due="2025-09-01")),
    ],
)
def test_parse_chinese(text: str, expected: ActionDraft) -> None:
    assert parse_action(text) == expected


def test_a_task_list_checkbox_reaches_the_parser() -> None:
    parsed = read_text(
        "r.md",
        "# R\n\n## Action items\n\n- [x] Write the runbook\n- [ ] Page the DBA\n",
        "markdown",
    )
    boxes = [lesson.metadata.get("checkbox") for lesson in parsed.lessons]
    assert boxes == ["done", "open"]
    assert parse_action("Write the runbook", checkbox="done").done


RETRO = """---
title: Payments 4.2 retro
project: PAY
---
# Payments 4.2 retro

## Lessons learned

- Rehearse rollbacks.

## Action items

- [ ] Add a rollback rehearsal to the checklist (owner: Dana, due 2025-10-15)
- [x] @bo write the runbook

## 行动项

- [ ] 增加证书过期监控 负责人：王芳 截止：2099-01-31
"""


@pytest.fixture
def store(store_config: Config):
    """On each engine (store_location): a SQLite file, then a PostgreSQL database."""
    with LessonStore(
        store_config.kb.db,
        HashingEmbedder(),
        clock=StepClock(dt.datetime(2025, 11, 1, 12, tzinfo=dt.UTC)),
    ) as opened:
        yield opened


@pytest.fixture
def retro(store: LessonStore, tmp_path: Path) -> Path:
    path = tmp_path / "retro.md"
    path.write_text(RETRO, encoding="utf-8")
    assert store.ingest_paths([path]).errors == []
    return path


def test_ingest_records_each_action_item_once_with_owner_due_and_status(
    store: LessonStore, retro: Path
) -> None:
    items = {item.owner: item for item in store.actions.list()}
    assert set(items) == {"Dana", "bo", "王芳"}
    dana = items["Dana"]
    assert (dana.text, dana.due, dana.status, dana.project) == (
        "Add a rollback rehearsal to the checklist",
        "2025-10-15",
        "open",
        "PAY",
    )
    assert dana.source_uri == str(retro.resolve())
    assert dana.id == item_id_for_lesson(dana.lesson_id)
    assert items["bo"].status == "done"
    store.actions.set_status(dana.id, "in_progress", "dana")
    retro.write_text(RETRO + "\n- [ ] One more thing\n", encoding="utf-8")
    store.ingest_paths([retro])
    assert store.actions.get(dana.id).status == "in_progress"  # not reset by the re-ingest
    assert len(store.actions.list()) == 4


def test_open_and_overdue_queries(store: LessonStore, retro: Path) -> None:
    overdue = store.actions.open_action_items(overdue_only=True)
    assert [item.owner for item in overdue] == ["Dana"]
    assert overdue[0].overdue(store.actions.today())
    assert {i.owner for i in store.actions.open_action_items(project="pay")} == {"Dana", "王芳"}
    assert store.actions.open_action_items(project="OPS") == []


def test_add_on_the_web_from_a_lesson_and_bad_input(store: LessonStore, retro: Path) -> None:
    lesson = store.search("rehearse rollbacks", limit=1, mode="keyword")[0]
    item = store.actions.add(
        "dana", text="Schedule the drill", owner="Dana", due="2025-12-01", lesson_id=lesson.id
    )
    assert (item.project, item.origin, item.source_uri) == ("PAY", "web", str(retro.resolve()))
    assert store.actions.for_lesson(lesson.id) == [item]
    with pytest.raises(CurationError, match="YYYY-MM-DD"):
        store.actions.add("dana", text="x", due="next friday")
    with pytest.raises(CurationError, match="say what"):
        store.actions.add("dana", text=" ")
    with pytest.raises(CurationError, match="use one of"):
        store.actions.set_status(item.id, "finished", "dana")
    with pytest.raises(ActionItemNotFound):
        store.actions.get("A-nope")


def test_jira_push_claim_is_idempotent_and_leased(store: LessonStore, retro: Path) -> None:
    item = store.actions.open_action_items()[0]
    claimed = store.actions.claim_jira_push(item.id)
    assert claimed.jira_request == "hindsight-action-" + item.id.lower()
    with pytest.raises(JiraPushBusy):
        store.actions.claim_jira_push(item.id)
    store.actions.release_jira_push(item.id)
    again = store.actions.claim_jira_push(item.id)
    assert again.jira_request == claimed.jira_request  # the same key on every retry
    store.actions.record_jira_issue(item.id, "PAY-7")
    store.actions.record_jira_issue(item.id, "PAY-8")  # a late duplicate never replaces it
    assert store.actions.get(item.id).jira_key == "PAY-7"
    assert store.actions.by_jira_key("PAY-7").id == item.id
    assert store.actions.claim_jira_push(item.id).jira_key == "PAY-7"  # nothing to create
