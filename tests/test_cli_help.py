"""Every `hindsight` command documents itself with an example, as the README promises."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from hindsight.cli import cli


def _walk(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, command in sorted(group.commands.items()):
        path = (*prefix, name)
        yield path, command
        if isinstance(command, click.Group):
            yield from _walk(command, path)


COMMANDS = list(_walk(cli))


def test_the_cli_has_commands() -> None:
    assert COMMANDS, "no command is registered with the hindsight group"


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=" ".join)
def test_every_command_has_help_with_an_example(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output, f"`hindsight {' '.join(path)} --help` shows no example"
