"""How `hindsight demo` shows the comments it would post (the end-to-end run: tests/e2e)."""

from __future__ import annotations

from hindsight.commands.lessons import describe_comment, describe_planned
from plugin.jira.report_only import ReportOnlyJira


def test_a_planned_comment_shows_its_exact_text_indented_and_escaped() -> None:
    jira = ReportOnlyJira()
    jira.add_comment("OPS-1", "*Lessons*\n* rehearse\x1b[2J the rollback\n\nthanks")
    lines = describe_planned(jira.writes[0])
    assert lines == [
        " " * 33 + "Jira comment on OPS-1:",
        " " * 35 + "| *Lessons*",
        " " * 35 + "| * rehearse\\x1b[2J the rollback",  # an escape cannot rewrite the screen
        " " * 35 + "|",
        " " * 35 + "| thanks",
    ]


def test_an_edited_comment_and_a_hostile_heading_stay_on_their_lines() -> None:
    jira = ReportOnlyJira()
    jira.edit_comment("OPS-2", "10001", "new text")
    assert describe_planned(jira.writes[0])[0].strip() == "Jira edit comment on OPS-2:"
    heading, *body = describe_comment("the comment on X\nforged line:", "a\u202eb", indent=2)
    assert heading == "  the comment on X\\nforged line:"
    assert body == ["    | a\\u202eb"]
