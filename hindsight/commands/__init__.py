"""Command modules of the `hindsight` CLI, one per area; each exports `COMMANDS`."""

from __future__ import annotations

import click

from hindsight.commands import doctor, lessons, policy, service
from hindsight.commands import kb as kb_commands

ALL_COMMANDS: list[click.Command] = []
ALL_COMMANDS += service.COMMANDS
ALL_COMMANDS += policy.COMMANDS
ALL_COMMANDS += lessons.COMMANDS
ALL_COMMANDS += kb_commands.COMMANDS
ALL_COMMANDS += doctor.COMMANDS
