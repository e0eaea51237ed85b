"""Command modules of the `hindsight` CLI, one per area; each exports `COMMANDS`."""

from __future__ import annotations

import click

ALL_COMMANDS: list[click.Command] = []
