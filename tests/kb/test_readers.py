"""Readers: sections in English and Chinese, narrative documents, Parabol, JSONL, bad input."""

from __future__ import annotations

import pytest

from kb.errors import IngestError
from kb.readers import read_bytes
from kb.readers.sections import section_kind
from tests.kb.conftest import EXAMPLES


@pytest.mark.parametrize(
    ("heading", "kind"),
    [
        ("What went well", "went_well"),
        ("What didn't go well", "went_wrong"),
        ("Things that could be improved", "went_wrong"),
        ("Lessons Learned", "lesson"),
        ("ACTION ITEMS", "action"),
        ("Root cause", "root_cause"),
        ("Risks", "risk"),
        ("做得好的", "went_well"),
        ("需要改进", "went_wrong"),
        ("问题", "went_wrong"),
        ("经验教训", "lesson"),
        ("行动项", "action"),
        ("改进措施", "action"),
        ("根本原因", "root_cause"),
        ("风险", "risk"),
        ("Timeline", None),
        ("Because of reasons", None),
    ],
)
def test_section_headings_are_recognised(heading: str, kind: str | None) -> None:
    assert section_kind(heading) == kind


def test_markdown_bullets_become_lessons_of_their_section() -> None:
    parsed = read_bytes(
        "retro.md",
        b"---\ntitle: Q3 retro\nproject: PAY\ndate: 2024-03-01\ntags: [db]\n"
        b"categories: [ops]\nteam: core\n---\n"
        b"Intro paragraph.\n\n## What went well\n- fast rollback\n- good comms\n"
        b"  - nested detail\n\n## What could be improved\n- no load test\n  continued\n",
    )
    kinds = [(lesson.kind, lesson.text) for lesson in parsed.lessons]
    assert kinds == [
        ("narrative", "Intro paragraph."),
        ("went_well", "fast rollback"),
        ("went_well", "good comms\n  - nested detail"),
        ("went_wrong", "no load test\ncontinued"),
    ]
    first = parsed.lessons[1]
    assert (first.title, first.project, first.date, first.tags) == (
        "Q3 retro",
        "PAY",
        "2024-03-01",
        ("db", "ops"),
    )
    assert first.section == "What went well"
    assert first.line == 12
    assert parsed.metadata == {"team": "core"}


def test_chinese_retrospective_sections() -> None:
    parsed = read_bytes(
        "复盘.md", (EXAMPLES / "2024-01-db-migration-rollback-zh.md").read_bytes(), "markdown"
    )
    by_kind = {lesson.kind for lesson in parsed.lessons}
    assert {"went_well", "went_wrong", "root_cause", "lesson", "action"} <= by_kind
    assert parsed.title == "订单库迁移失败回滚复盘"


def test_narrative_post_mortem_keeps_summary_and_every_paragraph() -> None:
    parsed = read_bytes(
        "pm.md",
        b"---\nsummary: Power loss took the lock service down.\ncompany: Acme\n\n---\n\n"
        b"First paragraph.\n\nSecond paragraph\nspans two lines.\n",
    )
    assert [(lesson.kind, lesson.text) for lesson in parsed.lessons] == [
        ("summary", "Power loss took the lock service down."),
        ("narrative", "First paragraph."),
        ("narrative", "Second paragraph\nspans two lines."),
    ]
    assert parsed.title == "Power loss took the lock service down."
    assert parsed.metadata == {"company": "Acme"}


def test_parabol_export_keeps_prompt_kind_and_votes() -> None:
    parsed = read_bytes("x.csv", (EXAMPLES / "2024-08-checkout-retro-parabol.csv").read_bytes())
    first = parsed.lessons[0]
    assert (first.kind, first.votes, first.title, first.date) == (
        "went_wrong",
        5,
        "Load testing",
        "2024-08-09",
    )
    assert first.metadata["author"] == "Priya"
    assert parsed.lessons[-1].kind == "what should we try next time"


def test_jsonl_keeps_given_ids_and_fields() -> None:
    parsed = read_bytes("l.jsonl", (EXAMPLES / "lessons-pmo.jsonl").read_bytes())
    first = parsed.lessons[0]
    assert (first.given_id, first.project, first.tags, first.origin) == (
        "PMO-101",
        "PMO",
        ("estimation", "vendor"),
        "PMO lessons register",
    )


@pytest.mark.parametrize(
    ("name", "data", "message", "line"),
    [
        ("bad.md", b"caf\xe9 au lait\n", "not valid UTF-8", 1),
        ("empty.md", b"  \n\n", "empty", None),
        ("front.md", b"---\ntitle: [unclosed\n---\nbody\n", "front matter: not valid YAML", 2),
        ("open.md", b"---\ntitle: x\nbody\n", "never closed", 1),
        ("list.md", b"---\n- a\n- b\n---\nbody\n", "YAML mapping", 2),
        ("date.md", b"---\ndate: last tuesday\n---\nbody\n", "not an ISO date", 2),
        ("heads.md", b"# Title only\n## Empty section\n", "no lessons found", None),
        ("p.csv", b"author,content\nA,B\n", "missing column(s) reflectionGroup", 1),
        ("j.jsonl", b'{"text": "ok"}\n{not json}\n', "not valid JSON", 2),
        ("j2.jsonl", b'{"text": "ok"}\n\n{"title": "no text"}\n', 'missing "text"', 3),
        ("j3.jsonl", b'{"id": "a", "text": "x"}\n{"id": "a", "text": "y"}\n', "twice", 2),
        ("what.txt", b"hello", "unknown file type", None),
    ],
)
def test_bad_input_names_file_line_and_fix(
    name: str, data: bytes, message: str, line: int | None
) -> None:
    with pytest.raises(IngestError) as caught:
        read_bytes(name, data)
    assert message in str(caught.value)
    assert caught.value.source == name
    assert caught.value.line == line
