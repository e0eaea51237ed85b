"""Rule kinds are registered evaluators: every kind the policy file allows has exactly one."""

from __future__ import annotations

from typing import get_args

import pytest

from plugin.policy.evaluators import evaluates, evaluator_for, registered_kinds
from plugin.policy.evaluators.change_control import change_control
from plugin.policy.evaluators.risk_review import risk_review
from plugin.policy.model import AnyRule


def test_every_rule_kind_of_the_policy_model_has_an_evaluator():
    kinds = {get_args(t.model_fields["kind"].annotation)[0] for t in get_args(AnyRule)}
    assert set(registered_kinds()) == kinds
    assert evaluator_for("change-control") is change_control
    assert evaluator_for("risk-review") is risk_review


def test_a_kind_has_one_evaluator_and_an_unknown_kind_is_named():
    with pytest.raises(ValueError, match="'risk-review' already has an evaluator"):
        evaluates("risk-review")(risk_review)
    with pytest.raises(LookupError, match="no evaluator for rule kind 'audit'; registered: "
                       "change-control, risk-review"):  # fmt: skip
        evaluator_for("audit")
