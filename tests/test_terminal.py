"""Untrusted text reaches the terminal escaped: file names, lesson text, titles, errors (issue 10
finding 8: a file name holding a newline forged lines of ingest's output)."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest
from click.testing import CliRunner

from hindsight.cli import cli
from hindsight.logs import configure_logging
from hindsight.terminal import json_line, printable
from kb import LessonStore
from testkit.kb import HashingEmbedder

FORGED = "3 sources: 3 added, 0 updated, 0 unchanged, 0 failed; 9 lessons written"


def test_newline_in_file_name_does_not_forge_ingest_output(tmp_path: Path) -> None:
    (tmp_path / f"notes\n{FORGED}\n.md").write_bytes(b"\xff\xfe not UTF-8")

    result = CliRunner().invoke(cli, ["ingest", str(tmp_path), "--db", str(tmp_path / "k.db")])

    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert FORGED not in lines
    assert len(lines) == 3, lines  # the error, the true summary, then "nothing readable"
    assert lines[0].startswith("error: ") and f"notes\\n{FORGED}\\n.md" in lines[0]
    assert lines[1].startswith("1 sources: 0 added") and lines[1].endswith(
        "1 failed; 0 lessons written"
    )
    assert lines[2].startswith("Error: no readable retrospective found in ")


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("line\nforged", "line\\nforged"),
        ("cr\roverwrite", "cr\\roverwrite"),
        ("\x1b[2Jclear", "\\x1b[2Jclear"),
        ("c1 \x9b31m csi", "c1 \\x9b31m csi"),
        ("bidi \u202eevil\u2066", "bidi \\u202eevil\\u2066"),
        ("separator\u2028here", "separator\\u2028here"),
        ("nul\x00 del\x7f", "nul\\x00 del\\x7f"),
        ("中文 café 👩\u200d💻 tab\tend", "中文 café 👩\u200d💻 tab\\tend"),
    ],
)
def test_printable_escapes_what_a_terminal_would_act_on(raw: str, shown: str) -> None:
    assert printable(raw) == shown


def test_multiline_text_keeps_its_lines_but_not_escapes() -> None:
    assert printable("a\n\tb\r\x1b[0m\u202e", multiline=True) == "a\n\tb\\r\\x1b[0m\\u202e"


def test_json_line_is_the_same_json_with_nothing_raw_a_terminal_acts_on() -> None:
    value = {"title": "a\nb\x1b\x85\u2028\u202e中"}

    line = json_line(value)

    assert json.loads(line) == value
    assert line.isprintable() and "中" in line


def test_titles_text_and_ids_of_lessons_print_escaped(tmp_path: Path) -> None:
    retro = tmp_path / "retro.jsonl"
    lesson = {"id": "L\x1b[8m1", "title": "\x1b[2Jevil\nforged", "text": "roll back\u202e\nok"}
    retro.write_text(json.dumps(lesson) + "\n")
    db = str(tmp_path / "k.db")
    with LessonStore(db, HashingEmbedder()) as store:
        store.ingest_paths([retro])

    found = CliRunner().invoke(cli, ["search", "roll back", "--mode", "keyword", "--db", db])
    shown = CliRunner().invoke(cli, ["lesson", "L\x1b[8m1", "--db", db])

    for output in (found.output, shown.output):
        assert "\x1b" not in output and "\u202e" not in output
        assert "\\x1b[2Jevil\\nforged" in output and "L\\x1b[8m1" in output
    assert shown.output.endswith("roll back\\u202e\nok\n")  # the body keeps its lines


def test_errors_quoting_a_file_name_are_escaped(tmp_path: Path) -> None:
    policy = tmp_path / "p\x1b[31m\nError: forged.yaml"
    policy.write_text("version: 1\nrules: [{name: x, kind: nope}]\n")

    result = CliRunner().invoke(cli, ["policy", "validate", str(policy)])

    assert result.exit_code == 1
    assert "\x1b" not in result.output
    assert "p\\x1b[31m\\nError: forged.yaml" in result.output
    assert not any(line.startswith("Error: forged") for line in result.output.splitlines())


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_logged_key_cannot_forge_a_log_line(fmt: str) -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    configure_logging(fmt, "INFO", stream=stream)
    try:
        logging.getLogger("hindsight.test").info(
            "delivery ignored\x1b[2K\u202e",
            extra={"fields": {"key": "k\n00:00:00 error   forged: admin logged in"}},
        )
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])

    written = stream.getvalue()
    assert written.count("\n") == 1 and "\x1b" not in written and "\u202e" not in written
    if fmt == "json":
        assert json.loads(written)["key"] == "k\n00:00:00 error   forged: admin logged in"


def test_the_doctor_checklist_escapes_what_jira_sent() -> None:
    from hindsight.commands.doctor import render_report
    from plugin.doctor import Check, DoctorReport

    check = Check("project", "fail", "no project 'X\n  ✓  all fine\x1b[8m'", project="X")

    shown = render_report(DoctorReport("https://jira.example.com", (check,)))

    assert "\x1b" not in shown
    assert "'X\\n  ✓  all fine\\x1b[8m'" in shown
    assert len(shown.splitlines()) == 3  # the title, the check, the counts


def test_policy_decisions_print_a_quoted_jira_value_on_its_own_line() -> None:
    from plugin.policy.decision import ActionRecord, PolicyDecision
    from plugin.policy.reasons import FieldValueNotAllowed, RequirementsUnmet
    from plugin.policy.render import render_decisions

    forged = "High\nCHG-1 change-control (enforce): PASS"
    decision = PolicyDecision(
        rule="change-control",
        kind="change-control",
        issue_key="CHG-1",
        mode="enforce",
        status="fail",
        headline=RequirementsUnmet("Done", 1),
        reasons=(FieldValueNotAllowed("Risk level", ("Low",), (forged,)),),
        actions=(ActionRecord("comment", "explain \x1b[8mhidden", "planned"),),
    )

    shown = render_decisions([decision], escape=printable)

    assert shown.splitlines() == [
        "CHG-1 change-control (enforce): FAIL - moved to Done without meeting 1 requirement(s)",
        "    - missing: 'Risk level' is High\\nCHG-1 change-control (enforce): PASS, not Low "
        "(set 'Risk level' to Low)",
        "    > comment: explain \\x1b[8mhidden [planned]",
    ]
