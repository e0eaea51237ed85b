"""One lessons-settings model: the same defaults with and without a policy file."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from plugin.lessons.config import CaptureSettings, LessonsSettings
from plugin.lessons.services import load_lessons_policy
from plugin.policy.loader import PolicyError, parse_policy

MINIMAL_POLICY = "version: 1\n"


@pytest.fixture
def policy_file(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text(MINIMAL_POLICY)
    return path


def test_the_defaults_are_the_same_with_or_without_a_policy_file(policy_file) -> None:
    without = load_lessons_policy(None)
    with_file = load_lessons_policy(policy_file)
    assert without == with_file == LessonsSettings()
    assert without.suggestions_for("ANY") == with_file.suggestions_for("ANY")


@pytest.mark.parametrize("from_file", [False, True], ids=["no policy file", "policy file"])
@pytest.mark.parametrize(
    ("issue_type", "labels", "captured"),
    [
        ("Post-incident review", (), True),  # was never captured without a policy file
        ("retrospective", (), True),
        ("Task", ("Lessons-Learned",), True),
        ("Task", ("retrospective",), True),
        ("Task", ("postmortem",), False),
    ],
)
def test_capture_defaults(policy_file, from_file, issue_type, labels, captured) -> None:
    settings = load_lessons_policy(policy_file if from_file else None)
    assert settings.capture.matches(issue_type, labels) is captured


def test_capture_can_be_switched_off() -> None:
    assert not CaptureSettings(enabled=False).matches("Retrospective", ["retrospective"])


def test_per_project_overrides_fall_back_to_the_top_level() -> None:
    settings = LessonsSettings(threshold=0.6, projects={"ops": {"limit": 5}})
    assert settings.suggestions_for("OPS").limit == 5
    assert settings.suggestions_for("OPS").threshold == 0.6
    assert settings.suggestions_for(None).limit == 3


def test_unknown_keys_and_bad_values_are_refused_naming_the_key() -> None:
    with pytest.raises(ValidationError, match="unknown key 'treshold'"):
        LessonsSettings.model_validate({"treshold": 0.5})
    with pytest.raises(PolicyError, match=r"suggestions\.seed\.threshold"):
        parse_policy(MINIMAL_POLICY + "suggestions:\n  seed: {threshold: 2}\n")


def test_the_seed_section_reads_its_issue_types_from_the_file() -> None:
    seed = parse_policy(
        MINIMAL_POLICY + "suggestions:\n  seed: {issue_type: Story, epic_type: Initiative}\n"
    ).suggestions.seed
    # an unset threshold is the model's calibrated one (kb.embedding.RELATED_SIMILARITY)
    assert (seed.issue_type, seed.epic_type, seed.threshold) == ("Story", "Initiative", None)
