"""The README's tables name every CLI command and every chat command the shipped capabilities register."""

from __future__ import annotations

from pathlib import Path

import click

from bot.cli.main import main
from tests.factories import REGISTRY

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def _commands(command: click.Command, prefix: list[str]) -> list[str]:
    if isinstance(command, click.Group):
        found = [" ".join(prefix)] if command.invoke_without_command else []
        for name, sub in command.commands.items():
            found += _commands(sub, [*prefix, name])
        return found
    return [" ".join(prefix)]


def test_every_cli_command_is_in_the_readme() -> None:
    missing = [name for name in _commands(main, ["groupbot"]) if f"`{name}" not in README and name != "groupbot"]
    assert missing == []


def test_every_chat_command_is_in_the_readme() -> None:
    missing = [name for name in REGISTRY.commands if f"`{name}" not in README]
    assert missing == []
