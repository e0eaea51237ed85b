"""Rule kinds and their evaluators: each kind is judged by the one evaluator registered for it.

Adding a kind is a rule model in `plugin.policy.model` and a module here whose function is
registered with `@evaluates("kind")`; the engine looks evaluators up by the rule's `kind`.
"""

from plugin.policy.evaluators import change_control, risk_review  # noqa: F401  (they register)
from plugin.policy.evaluators.registry import Evaluator, evaluates, evaluator_for, registered_kinds

__all__ = ["Evaluator", "evaluates", "evaluator_for", "registered_kinds"]
