"""`hindsight demo --once`: the README's first command, run to completion (real model, loopback)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from hindsight.cli import cli
from hindsight.commands.lessons import EXAMPLES


@pytest.mark.real_model
def test_the_demo_replays_every_example_and_reports_each_decision(tmp_path) -> None:
    result = CliRunner().invoke(cli, ["demo", "--once", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "report-only" in out
    for delivery in sorted((EXAMPLES / "deliveries").glob("*.json")):
        assert f"{delivery.name}: " in out
    assert "change-control: FAIL" in out  # the change without approval
    # the exact comment the violation would post, line by line
    assert "the comment on OPS-101:" in out
    assert "| {anchor:hindsight-change-control}*Hindsight policy: rule change-control*" in out
    assert "| It was moved back to *In Progress*." in out
    assert "'Approval' is empty, not Approved" in out  # fields named through `fields:`
    assert "customfield_" not in out
    assert "emergency change allowed" in out
    assert "OPS-102 risk-review" not in out  # the emergency change is not itself a risk
    assert "risk-review: PASS" in out and "Risk review" in out
    assert "lessons.suggest" in out and "lessons.seed" in out
    assert "/lessons" in out and "/dashboard" in out
    if (EXAMPLES / "retrospectives").is_dir():
        assert "sources:" in out  # the ingest summary
        assert "suggestion comment" in out  # the new issue met past lessons
        assert "Jira comment on OPS-104:" in out  # ...and the comment's exact text
        assert "| {anchor:hindsight-lessons}*Lessons from past work that may apply here*" in out
        assert "lessons.seed       reported" in out  # the new project gets its lessons issue
