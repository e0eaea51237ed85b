"""The `hindsight` command: a thin click group over the library packages.

Each area keeps its commands in `hindsight/commands/<area>.py` and is registered here.
"""

from __future__ import annotations

import click

from hindsight import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="hindsight")
def cli() -> None:
    """Hindsight: change control, risk review and lessons learned beside Jira.

    \b
    Example:
        hindsight ingest retrospectives/
        hindsight search "database migration rollback"
    """


def _register() -> None:
    from hindsight.commands import ALL_COMMANDS

    for command in ALL_COMMANDS:
        cli.add_command(command)


_register()


def main() -> None:
    cli(prog_name="hindsight")
