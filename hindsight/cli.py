"""The `hindsight` command: a thin click group over the library packages.

Each area keeps its commands in `hindsight/commands/<area>.py` and is registered here.
"""

from __future__ import annotations

import click

from hindsight import __version__
from hindsight.terminal import printable
from hindsight.wiring import ConfigError
from kb.errors import StoreUnavailableError


class _HindsightGroup(click.Group):
    """Errors quote file names, keys and other input: their text is escaped for the terminal.
    A database that cannot be opened, or a setting a command finds missing (a queue beside
    a PostgreSQL database), is such an error: what to check, not a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except click.ClickException as exc:
            exc.message = printable(exc.message, multiline=True)
            raise
        except (ConfigError, StoreUnavailableError) as exc:  # from any command, said the same way
            raise click.ClickException(printable(str(exc), multiline=True)) from None


@click.group(
    cls=_HindsightGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
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
