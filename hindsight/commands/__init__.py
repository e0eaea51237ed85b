"""Command modules of the `hindsight` CLI, one per area; each exports `COMMANDS`."""

from __future__ import annotations

import click

from hindsight.commands import kb as kb_commands
from hindsight.commands import lessons, policy, service

ALL_COMMANDS: list[click.Command] = []
ALL_COMMANDS += service.COMMANDS
ALL_COMMANDS += policy.COMMANDS
ALL_COMMANDS += lessons.COMMANDS
ALL_COMMANDS += kb_commands.COMMANDS
