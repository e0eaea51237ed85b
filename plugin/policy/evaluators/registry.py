"""The registry of evaluators, keyed by rule kind (`change-control`, `risk-review`, ...)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from plugin.policy.context import RuleContext
from plugin.policy.decision import PolicyDecision

Evaluator = Callable[[RuleContext[Any]], PolicyDecision]

_EVALUATORS: dict[str, Evaluator] = {}


def evaluates(kind: str) -> Callable[[Evaluator], Evaluator]:
    """Register the decorated function as the evaluator of rules of `kind` (one per kind)."""

    def register(evaluator: Evaluator) -> Evaluator:
        if kind in _EVALUATORS:
            raise ValueError(f"rule kind {kind!r} already has an evaluator")
        _EVALUATORS[kind] = evaluator
        return evaluator

    return register


def evaluator_for(kind: str) -> Evaluator:
    """The evaluator of rules of `kind`; a kind without one is a programming error, named."""
    try:
        return _EVALUATORS[kind]
    except KeyError:
        known = ", ".join(sorted(_EVALUATORS))
        raise LookupError(f"no evaluator for rule kind {kind!r}; registered: {known}") from None


def registered_kinds() -> tuple[str, ...]:
    return tuple(sorted(_EVALUATORS))
