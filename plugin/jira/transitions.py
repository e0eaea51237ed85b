"""Choosing what to send with a transition: only the fields its screen has.

Jira refuses a transition that sets a field absent from its screen ("Field 'resolution'
cannot be set. It is not on the appropriate screen, or unknown."). `JiraAdapter` sends exactly
what it is given, so callers filter with `fields_for_screen` and report what was dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from plugin.jira.port import Transition


def fields_for_screen(
    transition: Transition, wanted: Mapping[str, Any]
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """(`wanted` restricted to the transition screen's fields, the field ids dropped)."""
    kept = {fid: value for fid, value in wanted.items() if fid in transition.fields}
    dropped = tuple(fid for fid in wanted if fid not in transition.fields)
    return kept, dropped


def transition_to(transitions: list[Transition], status_id: str) -> Transition | None:
    """The transition leading to status `status_id` (a revert target), if the workflow has one."""
    return next((t for t in transitions if t.to.id == status_id), None)
