"""Property: any policy text is a Policy or a PolicyError, never another exception (a 500)."""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plugin.policy.loader import PolicyError, parse_policy

POLICY_FRAGMENTS = [
    "version: 1\n", "rules:\n", "  - ", "name: a", "kind: change-control", "kind: risk-review",
    "\n", "    ", "guard: {statuses: [Done]}", "requires: {fields: [A]}", "[", "]", "{", "}",
    "&a ", "*a", "!!int ", "!!python/name:x", "<<: *a", ".inf", "~", ",", ": ", "- ",
    "scope: ", "fields: ", "defaults: ", "mode: enforce", "suggestions: ", "threshold: ",
    "1e999", "null", "é", "change_types: ", "values: [x]", "review: ", "due_in_days: ",
]  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.sampled_from(POLICY_FRAGMENTS), max_size=80).map("".join))
def test_any_policy_text_is_valid_or_a_policy_error(text: str) -> None:
    with contextlib.suppress(PolicyError):
        parse_policy(text)
