"""The policy loader: valid files load; broken ones are refused naming file, line, key, choices."""

from __future__ import annotations

from pathlib import Path

import pytest

from plugin.lessons.config import SeedSettings
from plugin.policy.loader import POLICY_MAX_BYTES, PolicyError, load_policy, parse_policy
from plugin.policy.model import ChangeControlRule, RiskReviewRule
from tests.plugin.policy.conftest import POLICY_YAML


def _problems(text: str) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, source="policy.yaml")
    return [str(p) for p in caught.value.problems]


def test_the_test_policy_loads_with_its_rules(policy):
    assert [rule.name for rule in policy.rules] == ["change-control", "risk-review"]
    change, risk = policy.rules
    assert isinstance(change, ChangeControlRule) and isinstance(risk, RiskReviewRule)
    assert change.change_types is not None
    assert change.change_types.emergency.review.due_in_days == 3
    assert risk.guard.categories == ("done",)  # a risk may not close by default
    assert policy.mode_of(change) == "enforce"


def test_an_unknown_key_is_refused_with_its_line_and_the_allowed_keys():
    text = POLICY_YAML.replace("          fields: [Backout plan]", "          aproval: [x]")
    [problem] = _problems(text)
    line = text.splitlines().index("          aproval: [x]") + 1
    assert problem == (
        f"policy.yaml:{line}: rules[0].change_types.standard.requires: unknown key 'aproval'; "
        "allowed: fields, field_values, approved_by, links, subtasks"
    )


def test_a_bad_mode_lists_the_allowed_modes():
    [problem] = _problems(POLICY_YAML.replace("  mode: enforce", "  mode: enforced"))
    assert problem == (
        "policy.yaml:3: defaults.mode: 'enforced' is not allowed; must be one of: enforce, "
        "report-only"
    )


def test_an_unknown_rule_kind_lists_the_kinds():
    [problem] = _problems(POLICY_YAML.replace("kind: risk-review", "kind: risk"))
    assert "rules[1]: unknown kind 'risk'; allowed: change-control, risk-review" in problem


def test_version_is_required_and_must_be_1():
    assert _problems(POLICY_YAML.replace("version: 1\n", "")) == [
        "policy.yaml:1: version: missing required key 'version'"
    ]
    assert "must be one of: 1" in _problems(POLICY_YAML.replace("version: 1", "version: 2"))[0]


def test_yaml_syntax_errors_and_duplicate_keys_point_at_their_line():
    [syntax] = _problems("version: 1\nrules: [\n  - name: x\n")
    assert syntax.startswith("policy.yaml:") and "not valid YAML" in syntax
    [dup] = _problems("version: 1\nrules: []\nrules: []\n")
    assert dup == "policy.yaml:3: key 'rules' appears twice; keep one"


def test_cross_field_rules_are_checked():
    text = POLICY_YAML.replace("      default: normal\n", "      default: normal\n", 1)
    text = text.replace("    change_types:\n", "    requires: {fields: [x]}\n    change_types:\n")
    assert "give exactly one of 'requires'" in _problems(text)[0]
    risky = POLICY_YAML.split("    risky:")[0] + "    risky: {}\n"
    assert "name at least one of: priority_at_least" in _problems(risky)[0]
    wrong_priority = POLICY_YAML.replace("priority_at_least: High", "priority_at_least: Severe")
    assert "'Severe' is not in priority_order" in _problems(wrong_priority)[0]


def test_rule_names_must_be_unique_and_well_formed():
    text = POLICY_YAML.replace("name: risk-review", "name: change-control")
    assert "rule name 'change-control' is used twice" in _problems(text)[0]
    assert (
        "not a valid name" in _problems(POLICY_YAML.replace("name: risk-review", "name: Risk"))[0]
    )


def test_every_problem_is_reported_at_once():
    text = POLICY_YAML.replace("  mode: enforce", "  mode: x").replace(
        "due_in_days: 3", "due_in_days: -1"
    )
    problems = _problems(text)
    assert len(problems) == 2
    assert "greater than or equal to 0" in problems[1]


def test_an_empty_or_missing_file_is_refused(tmp_path):
    with pytest.raises(PolicyError, match="the policy file is empty"):
        parse_policy("")
    with pytest.raises(PolicyError, match="cannot read the policy file"):
        load_policy(tmp_path / "absent.yaml")


def test_suggestion_settings_default_and_per_project_overrides():
    text = POLICY_YAML + (
        "suggestions:\n  threshold: 0.6\n  projects:\n    ops: {threshold: 0.7, limit: 5}\n"
        "    LAB: {enabled: false}\n"
    )
    policy = parse_policy(text)
    assert policy.suggestions.suggestions_for("OPS").threshold == 0.7
    assert policy.suggestions.suggestions_for("OPS").limit == 5
    assert policy.suggestions.suggestions_for("CHG").threshold == 0.6
    assert policy.suggestions.suggestions_for("LAB").enabled is False
    assert policy.suggestions.suggestions_for(None).limit == 3
    assert policy.suggestions.capture.issue_types == ("Retrospective", "Post-incident review")
    bad = _problems(POLICY_YAML + "suggestions:\n  threshold: 1.5\n")
    assert "suggestions.threshold: Input should be less than or equal to 1" in bad[0]


def test_a_new_project_is_seeded_with_ten_lessons_unless_the_policy_says_otherwise():
    seed = parse_policy(POLICY_YAML).suggestions.seed
    assert (seed.mode, seed.limit) == ("issue", 10)
    assert seed.limit == SeedSettings().limit  # the same default with or without a policy file
    custom = parse_policy(POLICY_YAML + "suggestions:\n  seed: {mode: epic, limit: 4}\n")
    assert custom.suggestions.seed.limit == 4


def test_alias_bombs_are_refused_before_validation():
    lines = ["version: 1", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 7):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]")
    [problem] = _problems("\n".join(lines) + "\n")
    assert "aliases are expanded" in problem


def test_the_readme_example_is_a_valid_policy():
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    section = readme.split("## The policy file", 1)[1]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    policy = parse_policy(block, source="README.md")
    assert [rule.name for rule in policy.rules] == ["change-control", "risk-review"]
    assert policy.suggestions.suggestions_for("OPS").limit == 5


def test_the_shipped_example_policies_load():
    folder = Path(__file__).resolve().parents[3] / "deploy" / "policies"
    loaded = {path.name: load_policy(path) for path in folder.glob("*.yaml")}
    assert set(loaded) >= {"itil-change.yaml", "pmbok-risk-register.yaml"}


def test_a_policy_file_over_the_limit_or_not_utf8_is_a_policy_error(tmp_path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("a: b\n" * (POLICY_MAX_BYTES // 5 + 1))
    with pytest.raises(PolicyError) as caught:
        load_policy(big)
    assert str(caught.value) == (
        f"{big}: the policy file is {big.stat().st_size:,} bytes; the limit is 262,144 bytes"
    )
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"version: 1\nrules: caf\xe9\n")
    with pytest.raises(PolicyError) as caught:
        load_policy(latin)
    assert str(caught.value) == f"{latin}:2: the policy file is not UTF-8; save it as UTF-8"
