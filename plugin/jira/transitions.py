"""Choosing what to send with a write: only the fields its screen has.

Jira refuses a transition, a create or an edit that sets a field absent from its screen
("Field 'resolution' cannot be set. It is not on the appropriate screen, or unknown."), and a
create refuses the whole issue. `JiraAdapter` sends exactly what it is given, so callers filter
with `fields_for_screen` against the transition's screen, `create_screen` or `edit_screen`, and
report what was dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from plugin.jira.port import ScreenField, Transition


def fields_for_screen(
    screen: Transition | Mapping[str, ScreenField], wanted: Mapping[str, Any]
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """(`wanted` restricted to the screen's fields, the field ids dropped)."""
    on_screen = screen.fields if isinstance(screen, Transition) else screen
    kept = {fid: value for fid, value in wanted.items() if fid in on_screen}
    dropped = tuple(fid for fid in wanted if fid not in on_screen)
    return kept, dropped


def transition_to(transitions: list[Transition], status_id: str) -> Transition | None:
    """The transition leading to status `status_id` (a revert target), if the workflow has one."""
    return next((t for t in transitions if t.to.id == status_id), None)
